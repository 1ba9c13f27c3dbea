package verify

import (
	"strings"
	"testing"
)

// The report's name column was 14 wide, so "getitemestimate" ran into its
// detail ("getitemestimateServer answered").
func TestReportNamesNeverRunIntoTheirDetail(t *testing.T) {
	r := &Report{}
	r.add("tls", Pass, "TLS 1.2", "")
	r.add("getitemestimate", Warn, "the server answered Status 2", "sync first")
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"PASS  tls              TLS 1.2\n",
		"WARN  getitemestimate  the server answered Status 2\n",
		"                       what to do: sync first\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
