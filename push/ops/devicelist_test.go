package ops

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

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
