package push

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pushca/pushca/push/state"
	"github.com/pushca/pushca/push/state/statetest"
)

func TestDevicesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.db")
	d, err := OpenDevices(path, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Update(context.Background(), "alice", "dev1", func(dev *Device) {
		dev.Type, dev.Protocol, dev.PolicyKey = "PocketPC", "2.5", 1234
		dev.Sync = map[string]SyncState{inboxID: {Key: "7", Seq: 3}}
		dev.Heartbeat, dev.Folders = 900, []string{inboxID}
	}); err != nil {
		t.Fatal(err)
	}
	d.LogPing("alice", "dev1", PingLog{Heartbeat: 900, Outcome: PingExpired})
	if _, err := OpenDevices(path, testLog(t)); err == nil {
		t.Fatal("a second server opened the same database")
	}
	d.Close()

	d, err = OpenDevices(path, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dev, ok, _ := d.Get(context.Background(), "alice", "dev1")
	if !ok || dev.PolicyKey != 1234 || dev.Sync[inboxID].Key != "7" || dev.Heartbeat != 900 || len(dev.Pings) != 1 || dev.Type != "PocketPC" {
		t.Fatalf("after restart: %+v", dev)
	}
}

// The warning waits for the alert's number of samples, averages the last
// ones only, and fires once per drop.
func TestLowHeartbeatWarning(t *testing.T) {
	var buf bytes.Buffer
	d, err := OpenDevices(filepath.Join(t.TempDir(), "devices.db"), slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Update(context.Background(), "alice", "dev1", func(*Device) {}); err != nil {
		t.Fatal(err)
	}
	log := func(hb int) { d.LogPing("alice", "dev1", PingLog{Heartbeat: hb, Start: time.Now()}) }
	log(60)
	if buf.Len() != 0 {
		t.Fatalf("warned after one Ping, with the default %d samples: %s", DefaultHeartbeatAlertSamples, buf.String())
	}
	d.alert = HeartbeatAlert{Samples: 4, Threshold: 540}
	if dev, _, _ := d.Get(context.Background(), "alice", "dev1"); d.alert.Low(dev) {
		t.Fatal("one sample of four counted as low")
	}
	log(900)
	log(900)
	if buf.Len() != 0 {
		t.Fatalf("warned before 4 samples: %s", buf.String())
	}
	log(60) // last 4: 900 900 60 60, average 480: warn
	log(60) // 900 60 60 60: still low, no second warning
	if n := strings.Count(buf.String(), "average heartbeat is low"); n != 1 {
		t.Fatalf("%d warnings:\n%s", n, buf.String())
	}
	for range d.alert.Samples + 10 {
		log(1000)
	}
	dev, _, _ := d.Get(context.Background(), "alice", "dev1")
	if len(dev.Pings) != d.alert.Samples || dev.AverageHeartbeat() != 1000 || dev.LowWarned {
		t.Fatalf("%d pings kept, average %d, warned %v", len(dev.Pings), dev.AverageHeartbeat(), dev.LowWarned)
	}
}

// A note is on disk soon after, while the server runs, without waiting for
// Close; an Update is on disk when it returns.
func TestNotesAreWrittenBehind(t *testing.T) {
	d, err := OpenDevices(filepath.Join(t.TempDir(), "devices.db"), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	onDisk := func() Device {
		var dev Device
		if err := d.db.View(func(tx *bolt.Tx) error {
			if v := tx.Bucket(devicesBucket).Get([]byte(deviceKey("alice", "dev1"))); v != nil {
				return json.Unmarshal(v, &dev)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return dev
	}
	if _, err := d.Update(context.Background(), "alice", "dev1", func(dev *Device) { dev.PolicyKey = 42 }); err != nil {
		t.Fatal(err)
	}
	if got := onDisk(); got.PolicyKey != 42 {
		t.Fatalf("after Update the disk has %+v", got)
	}
	d.Note(context.Background(), "alice", "dev1", func(dev *Device) { dev.UserAgent = "noted" })
	waitFor(t, func() bool { return onDisk().UserAgent == "noted" })
	if got := onDisk(); got.PolicyKey != 42 {
		t.Fatalf("the note lost the policy key: %+v", got)
	}
}

func TestDevicesContract(t *testing.T) {
	statetest.Devices(t, func(t *testing.T) state.Devices { return openTestDevices(t) })
}
