package profile

import (
	"strings"
	"testing"
)

// ForDevice reads the real table: what a Windows Mobile 5 phone, an iPhone
// and an Android phone send finds their rows, and what the table does not
// list finds none rather than a guess.
func TestForDevice(t *testing.T) {
	for _, tc := range []struct {
		typ, version string
		want         string
	}{
		{"PocketPC", "2.5", "wm5"},
		{"pocketpc", "12.0", "wm6"},
		{"PocketPC", "12.1", "wm65"},
		{"iPhone", "14.1", "ios"},
		{"Android", "14.1", "android,modern"},
		{"PocketPC", "14.1", ""},  // no Windows Mobile speaks 14.1
		{"iPhone", "16.1", ""},    // a version the table lacks
		{"SmartPhone", "2.5", ""}, // WM Standard: not a row of its own
		{"", "", ""},
	} {
		var names []string
		for _, p := range ForDevice(tc.typ, tc.version) {
			names = append(names, p.Name)
		}
		if got := strings.Join(names, ","); got != tc.want {
			t.Errorf("ForDevice(%q, %q) = %q, want %q", tc.typ, tc.version, got, tc.want)
		}
	}
	// A copy: changing it leaves the table alone.
	ps := ForDevice("PocketPC", "2.5")
	ps[0].Suites[0] = 0
	if p, _ := Get("wm5"); p.Suites[0] == 0 {
		t.Error("ForDevice handed out the table's own suite list")
	}
}
