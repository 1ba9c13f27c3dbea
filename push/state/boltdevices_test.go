package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pushca/pushca/internal/testtool"
)

func TestBoltDevicesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.db")
	d, err := OpenBoltDevices(path, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Update(context.Background(), "alice", "dev1", func(dev *Device) {
		dev.Type, dev.Protocol, dev.PolicyKey = "PocketPC", "2.5", 1234
		dev.Sync = map[string]SyncState{"1": {Key: "7", Seq: 3}}
		dev.Heartbeat, dev.Folders = 900, []string{"1"}
	}); err != nil {
		t.Fatal(err)
	}
	d.LogPing("alice", "dev1", PingLog{Heartbeat: 900, Outcome: "expired"})
	if _, err := OpenBoltDevices(path, testtool.Log(t)); err == nil {
		t.Fatal("a second server opened the same database")
	}
	d.Close()

	d, err = OpenBoltDevices(path, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dev, ok, _ := d.Get(context.Background(), "alice", "dev1")
	if !ok || dev.PolicyKey != 1234 || dev.Sync["1"].Key != "7" || dev.Heartbeat != 900 || len(dev.Pings) != 1 || dev.Type != "PocketPC" {
		t.Fatalf("after restart: %+v", dev)
	}
}

// The warning waits for the alert's number of samples, averages the last
// ones only, and fires once per drop.
func TestLowHeartbeatWarning(t *testing.T) {
	var buf bytes.Buffer
	d, err := OpenBoltDevices(filepath.Join(t.TempDir(), "devices.db"), slog.New(slog.NewTextHandler(&buf, nil)))
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
	d, err := OpenBoltDevices(filepath.Join(t.TempDir(), "devices.db"), testtool.Log(t))
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
	testtool.WaitFor(t, func() bool { return onDisk().UserAgent == "noted" })
	if got := onDisk(); got.PolicyKey != 42 {
		t.Fatalf("the note lost the policy key: %+v", got)
	}
}

// ReadBoltDevices reads what a server wrote once it has stopped, says a
// missing file holds nothing, and tells a file a running server holds from
// one it cannot read.
func TestReadBoltDevices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.db")
	if devs, err := ReadBoltDevices(path); err != nil || devs != nil {
		t.Fatalf("missing file: %v %v", devs, err)
	}
	d, err := OpenBoltDevices(path, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ user, id, typ string }{{"bob", "IPH1", "iPhone"}, {"alice", "WM1", "PocketPC"}, {"ab", "X", "Android"}} {
		if _, err := d.Update(context.Background(), u.user, u.id, func(dev *Device) { dev.Type, dev.Cert, dev.Family = u.typ, "42", "legacy" }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ReadBoltDevices(path); !errors.Is(err, ErrDevicesInUse) || !strings.Contains(err.Error(), path) {
		t.Fatalf("while the server holds it: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	devs, err := ReadBoltDevices(path)
	if err != nil || len(devs) != 3 {
		t.Fatalf("after the server stopped: %+v %v", devs, err)
	}
	var got []string
	for _, dev := range devs {
		got = append(got, dev.User+"/"+dev.ID+"/"+dev.Type+"/"+dev.Cert+"/"+dev.Family)
	}
	if s := strings.Join(got, " "); s != "ab/X/Android/42/legacy alice/WM1/PocketPC/42/legacy bob/IPH1/iPhone/42/legacy" {
		t.Errorf("records: %s", s)
	}
	// Read-only: the server opens it again afterwards.
	d, err = OpenBoltDevices(path, testtool.Log(t))
	if err != nil {
		t.Fatalf("reopen after ReadBoltDevices: %v", err)
	}
	d.Close()

	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("x"), 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadBoltDevices(junk); err == nil || errors.Is(err, ErrDevicesInUse) || !strings.Contains(err.Error(), junk) {
		t.Errorf("a file that is no database: %v", err)
	}
}
