package state_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/pushca/pushca/push/state"
	"github.com/pushca/pushca/push/state/statetest"
)

func TestBoltDevicesContract(t *testing.T) {
	statetest.Devices(t, func(t *testing.T) state.Devices {
		d, err := state.OpenBoltDevices(filepath.Join(t.TempDir(), "devices.db"), slog.New(slog.NewTextHandler(t.Output(), nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	})
}
