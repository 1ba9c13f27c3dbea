package push

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// TestAdminListDevices: ops.ListDevices reads the device list of a
// running server's admin API, and only with its token.
func TestAdminListDevices(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	base := "http://" + ts.AdminAddr()
	ctx := context.Background()
	if devs, err := ops.ListDevices(ctx, base, ts.Token()); err != nil || len(devs) != 0 {
		t.Fatalf("no devices yet: %+v %v", devs, err)
	}
	if _, err := ts.devices.Update(context.Background(), "alice", "WM1", func(d *state.Device) {
		d.Type, d.Protocol, d.UserAgent, d.Cert, d.Family = "PocketPC", "2.5", "MSFT-PPC/5.1.2200", "77", "legacy"
	}); err != nil {
		t.Fatal(err)
	}
	devs, err := ops.ListDevices(ctx, base+"/", ts.Token())
	if err != nil || len(devs) != 1 {
		t.Fatalf("list: %+v %v", devs, err)
	}
	if d := devs[0]; d.User != "alice" || d.ID != "WM1" || d.Type != "PocketPC" || d.Protocol != "2.5" || d.UserAgent != "MSFT-PPC/5.1.2200" || d.Cert != "77" || d.Family != "legacy" || d.LastSeen.IsZero() {
		t.Errorf("record: %+v", d)
	}
	if _, err := ops.ListDevices(ctx, base, "wrong"+ts.Token()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ops.ListDevices(cctx, base, ts.Token()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
