package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pushca/pushca/push/state"
)

// ListDevices reads the device list of a running server's admin API, and
// only with its token.
func TestAdminListDevices(t *testing.T) {
	ts := startServer(t, HeartbeatBounds{1, 3540})
	base := "http://" + ts.AdminAddr()
	ctx := context.Background()
	if devs, err := ListDevices(ctx, base, ts.Token()); err != nil || len(devs) != 0 {
		t.Fatalf("no devices yet: %+v %v", devs, err)
	}
	if _, err := ts.devices.Update(context.Background(), "alice", "WM1", func(d *state.Device) {
		d.Type, d.Protocol, d.UserAgent, d.Cert, d.Family = "PocketPC", "2.5", "MSFT-PPC/5.1.2200", "77", "legacy"
	}); err != nil {
		t.Fatal(err)
	}
	devs, err := ListDevices(ctx, base+"/", ts.Token())
	if err != nil || len(devs) != 1 {
		t.Fatalf("list: %+v %v", devs, err)
	}
	if d := devs[0]; d.User != "alice" || d.ID != "WM1" || d.Type != "PocketPC" || d.Protocol != "2.5" || d.UserAgent != "MSFT-PPC/5.1.2200" || d.Cert != "77" || d.Family != "legacy" || d.LastSeen.IsZero() {
		t.Errorf("record: %+v", d)
	}
	if _, err := ListDevices(ctx, base, "wrong"+ts.Token()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ListDevices(cctx, base, ts.Token()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestAdminDeviceListDecoding(t *testing.T) {
	ok := `[{"user":"alice","id":"WM1","type":"PocketPC"}]` + "\n"
	if devs, err := decodeDeviceList(strings.NewReader(ok), int64(len(ok))); err != nil || len(devs) != 1 || devs[0].Type != "PocketPC" {
		t.Errorf("a list of its own size: %+v %v", devs, err)
	}
	if devs, err := decodeDeviceList(strings.NewReader("[]"), 10); err != nil || devs == nil || len(devs) != 0 {
		t.Errorf("an empty list: %#v %v", devs, err)
	}
	for in, want := range map[string]string{
		`[{"user":"a","id":"b"}`:       "unexpected EOF",
		strings.Repeat(" ", 64) + "[]": "larger than 40 bytes",
		`[]` + strings.Repeat(" ", 64): "larger than 40 bytes",
		"null":                         "not a JSON array",
		`{"user":"alice"}`:             "cannot unmarshal",
		`[] []`:                        "trailing data",
		`[{"user":"alice"}]`:           "record 0 has no user or device id",
		`[{"user":"a","id":"b"},null]`: "record 1 has no user or device id",
	} {
		if _, err := decodeDeviceList(strings.NewReader(in), 40); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// Whatever the admin API answers, the client returns records with a user
// and an id, or an error, and never more than the bound read.
func FuzzAdminDeviceList(f *testing.F) {
	f.Add([]byte(`[{"user":"alice","id":"WM1","type":"PocketPC","protocol":"2.5","cert":"1","family":"legacy","lastSeen":"2025-01-01T00:00:00Z"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"user":"a","id":"b","pings":[{"heartbeat":1}],"sync":{"1":{"key":"2"}}}] x`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		devs, err := decodeDeviceList(bytes.NewReader(data), 1<<12)
		if err != nil {
			return
		}
		if len(data) > 1<<12 {
			t.Fatalf("read %d bytes past the bound of %d", len(data), 1<<12)
		}
		for _, d := range devs {
			if d.User == "" || d.ID == "" {
				t.Fatalf("record without user or id: %+v", d)
			}
		}
		// What decodes, encodes and decodes the same again.
		again, err := json.Marshal(devs)
		if err != nil {
			t.Fatal(err)
		}
		devs2, err := decodeDeviceList(bytes.NewReader(again), int64(len(again)))
		if err != nil || len(devs2) != len(devs) {
			t.Fatalf("round trip: %v, %d records then %d", err, len(devs), len(devs2))
		}
	})
}
