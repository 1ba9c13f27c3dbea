package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/push/state"
)

// serials of the CA's inventory in these tests: mail.example.com has a
// legacy and a modern certificate and an older, superseded legacy one;
// other.example.com one legacy certificate.
func serialHost(serial string) (string, bool) {
	h, ok := map[string]string{
		"101": "mail.example.com", "102": "mail.example.com", "100": "mail.example.com",
		"201": "other.example.com",
	}[serial]
	return h, ok
}

var seen = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func fleet() []state.Device {
	return []state.Device{
		{User: "alice", ID: "WM5A", Type: "PocketPC", Protocol: "2.5", UserAgent: "MSFT-PPC/5.1.2200", Cert: "101", Family: "legacy", LastSeen: seen},
		// On the superseded legacy certificate: still the host's device.
		{User: "aaron", ID: "WM6A", Type: "PocketPC", Protocol: "12.0", Cert: "100", Family: "legacy", LastSeen: seen},
		{User: "bob", ID: "IPH1", Type: "iPhone", Protocol: "14.1", UserAgent: "Apple-iPhone3C1/811.2", Cert: "102", Family: "modern", LastSeen: seen},
		{User: "dora", ID: "DROID", Type: "Android", Protocol: "14.1", Cert: "102", Family: "modern", LastSeen: seen},
		// Not in the table: the family its handshake chose speaks for it.
		{User: "carl", ID: "SP1", Type: "SmartPhone", Protocol: "2.5", Cert: "101", Family: "legacy", LastSeen: seen},
		{User: "eve", ID: "IPH16", Type: "iPhone", Protocol: "16.1", Cert: "102", Family: "modern", LastSeen: seen},
		// Another host's device, one on a serial the CA does not know, and
		// one that never completed a handshake with a CA certificate.
		{User: "olga", ID: "WMO", Type: "PocketPC", Protocol: "2.5", Cert: "201", Family: "legacy", LastSeen: seen},
		{User: "sam", ID: "WMX", Type: "PocketPC", Protocol: "2.5", Cert: "999", Family: "legacy", LastSeen: seen},
		{User: "nia", ID: "NEW", Type: "PocketPC", Protocol: "2.5"},
		// The table does not know it and no family was chosen.
		{User: "ugo", ID: "ODD", Type: "Palm", Protocol: "12.1", Cert: "101", LastSeen: seen},
	}
}

// lost lists the lost devices as group: ids, for comparison.
func lost(r Report) string {
	var out []string
	for _, g := range r.Lost {
		var ids []string
		for _, d := range g.Devices {
			ids = append(ids, d.ID)
		}
		out = append(out, g.Name()+"["+strings.Join(g.Accepts, ",")+"]: "+strings.Join(ids, ","))
	}
	return strings.Join(out, "; ")
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after []string
		want  string
	}{
		{"renew keeps both families", []string{"legacy", "modern"}, ""},
		{"dropping legacy loses Windows Mobile", []string{"modern"},
			"wm5[legacy]: WM5A; wm6[legacy]: WM6A; recorded family legacy[legacy]: SP1"},
		// modern-rsa is RSA with SHA-256: iPhones and Android take it,
		// Windows Mobile (SHA-1 only) does not, and a device known only by
		// its recorded modern family is not assumed to.
		{"moving modern to modern-rsa", []string{"legacy", "modern-rsa"},
			"recorded family modern[modern]: IPH16"},
		{"dropping modern loses the phones", []string{"legacy"},
			"ios[modern,modern-rsa]: IPH1; android, modern[modern,modern-rsa]: DROID; recorded family modern[modern]: IPH16"},
		{"nothing left", nil,
			"wm5[legacy]: WM5A; wm6[legacy]: WM6A; ios[modern,modern-rsa]: IPH1; android, modern[modern,modern-rsa]: DROID; recorded family legacy[legacy]: SP1; recorded family modern[modern]: IPH16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.after, fleet(), serialHost, "Mail.Example.com")
			if got := lost(r); got != tc.want {
				t.Errorf("lost:\n got %s\nwant %s", got, tc.want)
			}
			if r.Devices != 7 {
				t.Errorf("judged %d devices of the host, want 7 (not olga's, sam's or nia's)", r.Devices)
			}
			if len(r.Unknown) != 1 || r.Unknown[0].ID != "ODD" {
				t.Errorf("unknown: %+v", r.Unknown)
			}
		})
	}
}

// The report carries what an operator needs to find the device.
func TestCheckReportsTheDevice(t *testing.T) {
	r := Check([]string{"modern"}, fleet(), serialHost, "mail.example.com")
	if r.LostDevices() != 3 {
		t.Fatalf("lost %d devices: %s", r.LostDevices(), lost(r))
	}
	got := r.Lost[0].Devices[0]
	want := Device{User: "alice", ID: "WM5A", Type: "PocketPC", Protocol: "2.5", UserAgent: "MSFT-PPC/5.1.2200", Cert: "101", Family: "legacy", LastSeen: seen}
	if got != want {
		t.Errorf("device:\n got %+v\nwant %+v", got, want)
	}
}

// Another host's plan sees only its own devices, and a host nobody uses
// loses nothing whatever it drops.
func TestCheckOtherHosts(t *testing.T) {
	r := Check([]string{"modern"}, fleet(), serialHost, "other.example.com")
	if r.Devices != 1 || lost(r) != "wm5[legacy]: WMO" {
		t.Errorf("other.example.com: %d devices, lost %s", r.Devices, lost(r))
	}
	r = Check(nil, fleet(), serialHost, "idle.example.com")
	if r.Devices != 0 || r.LostDevices() != 0 || r.Lost == nil {
		t.Errorf("idle.example.com: %+v", r)
	}
}
