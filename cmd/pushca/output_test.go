package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Output as a stranger reads it: no Go slice syntax, no "TLS 1.0-TLS 1.0",
// no table header over nothing.
func TestOutputReadsAsText(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	env := passwordEnv(t, "pw")
	out := mustPushca(t, env, "--dir", dir, "init", "--host", "mail.example.com", "--profiles", "ios", "--san", "a.example.com", "--ip", "10.0.0.5")
	if !strings.Contains(out, "names:     mail.example.com, a.example.com, 10.0.0.5\n") || strings.Contains(out, "[") {
		t.Errorf("init output:\n%s", out)
	}
	if out := mustPushca(t, nil, "--dir", dir, "cert", "status", "--within", "5d"); out != "no active certificate expires within 5d\n" {
		t.Errorf("cert status with nothing expiring:\n%s", out)
	}
	out = mustPushca(t, nil, "profiles")
	if !strings.Contains(out, "wm5      legacy  TLS 1.0 ") || !strings.Contains(out, "TLS 1.2-1.3") || strings.Contains(out, "TLS 1.0-TLS") {
		t.Errorf("profiles:\n%s", out)
	}
}
