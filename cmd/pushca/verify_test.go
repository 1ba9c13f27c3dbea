package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/verify"
)

// TestVerifyThroughTheBinary points `pushca verify` at a running `pushca
// serve` as a wm6 device: with the CA's root every check passes, the push
// latency is measured through the admin API and a two-rung ladder runs;
// without a user it warns; with another CA's root it fails, names the
// problem and sends no password.
func TestVerifyThroughTheBinary(t *testing.T) {
	tmp := t.TempDir()
	dir, other := filepath.Join(tmp, "state"), filepath.Join(tmp, "other")
	pwEnv := passwordEnv(t, "ca password")
	mustPushca(t, pwEnv, "--dir", dir, "init", "--host", "mail.test", "--profile", "wm6")
	mustPushca(t, pwEnv, "--dir", other, "init", "--host", "mail.test", "--profile", "wm6")
	pwFile := filepath.Join(tmp, "alice.pw")
	if err := os.WriteFile(pwFile, []byte("alice secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustPushca(t, nil, "--dir", dir, "users", "add", "alice", "--password-file", pwFile)
	srv, addrs := startServe(t, dir, "--host", "mail.test", "--profile", "wm6", "--heartbeat-min", "1")
	https := addrs["ActiveSync"]
	url := "https://mail.test:" + https[strings.LastIndexByte(https, ':')+1:]
	device := []string{"verify", url, "--connect", https, "--profile", "wm6"}

	out := mustPushca(t, nil, append(append([]string{"--dir", dir}, device...), "--root", ca.Layout{Dir: dir}.RootCert(), `--user`, `CORP\alice`,
		"--password-file", pwFile, "--heartbeat", "1", "--admin", addrs["Admin API"], "--ladder-steps", "1,2", "--json")...)
	var r verify.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if r.Verdict() != verify.Pass || r.TLS == nil || r.TLS.Version != "TLS 1.0" || r.Version != "12.0" {
		t.Fatalf("report: %s", out)
	}
	if r.Push == nil || r.Push.Latency <= 0 || r.Push.Woken != 1 || r.Push.Fetched != 1 {
		t.Errorf("push: %+v", r.Push)
	}
	t.Logf("push latency through the binary: %v", r.Push.Latency)
	if r.Ladder == nil || len(r.Ladder.Rungs) != 2 || r.Ladder.Longest != 2 {
		t.Errorf("--ladder-steps 1,2: %+v", r.Ladder)
	}

	res := runPushca(t, nil, append(device, "--root", ca.Layout{Dir: dir}.RootCert())...)
	if res.code != verifyExitWarn || !strings.Contains(res.stdout, "PASS  chain to root") || !strings.Contains(res.stderr, "activesync (warn: not checked: no user given)") {
		t.Errorf("TLS only: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}

	res = runPushca(t, nil, append(device, "--root", ca.Layout{Dir: other}.RootCert(), "--user", "alice", "--password-file", pwFile)...)
	if res.code != verifyExitFail || !strings.Contains(res.stderr, "chain to root (fail:") ||
		!strings.Contains(res.stdout, "FAIL  chain to root") || !strings.Contains(res.stdout, "Check that --root is the root installed on the devices") ||
		!strings.Contains(res.stdout, "sends no password") {
		t.Errorf("wrong root: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}

	if res := runPushca(t, nil, "verify", url, "--user", "alice"); res.code != 1 || !strings.Contains(res.stderr, "--password-file") {
		t.Errorf("a user without a password file or terminal: exit %d, %s", res.code, res.stderr)
	}
	srv.stop(t, syscall.SIGTERM)
}

// TestVerifyMixedFleet is issue 13's proof through the binary: after one
// `init --profiles wm5,ios,android` and one `serve`, verify passes as every
// device profile, each hello answered with its own chain family under the
// one root.
func TestVerifyMixedFleet(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "state")
	mustPushca(t, passwordEnv(t, "ca password"), "--dir", dir, "init", "--host", "mail.test", "--profiles", "wm5,ios,android")
	pwFile := filepath.Join(tmp, "alice.pw")
	if err := os.WriteFile(pwFile, []byte("alice secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustPushca(t, nil, "--dir", dir, "users", "add", "alice", "--password-file", pwFile)
	srv, addrs := startServe(t, dir, "--host", "mail.test", "--heartbeat-min", "1")
	https := addrs["ActiveSync"]
	url := "https://mail.test:" + https[strings.LastIndexByte(https, ':')+1:]
	roots := map[string]bool{}
	for _, p := range profile.All() {
		t.Run(p.Name, func(t *testing.T) {
			out := mustPushca(t, nil, "verify", url, "--connect", https, "--profile", p.Name, "--root", ca.Layout{Dir: dir}.RootCert(),
				"--user", "alice", "--password-file", pwFile, "--heartbeat", "1", "--json")
			var r verify.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("--json: %v\n%s", err, out)
			}
			if r.Verdict() != verify.Pass || r.TLS == nil || r.TLS.Family != p.Family || r.TLS.Root == nil || r.Version != p.EASVersion {
				t.Fatalf("want a pass on the %s chain: %s", p.Family, out)
			}
			roots[r.TLS.Root.SHA256] = true
		})
	}
	if len(roots) != 1 {
		t.Errorf("the chains end at %d roots, want one: %v", len(roots), roots)
	}
	srv.stop(t, syscall.SIGTERM)
}
