package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/verify"
)

// verifyBed is a wm6 CA in dir with the user alice (password in pwFile)
// and `pushca serve` on loopback for mail.test.
type verifyBed struct {
	dir, pwFile string
	srv         *child
	addrs       map[string]string
	url         string // https://mail.test:PORT
}

func newVerifyBed(t *testing.T) verifyBed {
	t.Helper()
	tmp := t.TempDir()
	b := verifyBed{dir: filepath.Join(tmp, "state"), pwFile: filepath.Join(tmp, "alice.pw")}
	mustPushca(t, passwordEnv(t, "ca password"), "--dir", b.dir, "init", "--host", "mail.test", "--profile", "wm6")
	if err := os.WriteFile(b.pwFile, []byte("alice secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustPushca(t, nil, "--dir", b.dir, "users", "add", "alice", "--password-file", b.pwFile)
	b.srv, b.addrs = startServe(t, b.dir, "--host", "mail.test", "--profile", "wm6", "--heartbeat-min", "1")
	https := b.addrs["ActiveSync"]
	b.url = "https://mail.test:" + https[strings.LastIndexByte(https, ':')+1:]
	return b
}

// device is the start of a verify command line checking the bed as a wm6
// device.
func (b verifyBed) device() []string {
	return []string{"verify", b.url, "--connect", b.addrs["ActiveSync"], "--profile", "wm6"}
}

// TestVerifyThroughTheBinary points `pushca verify` at a running `pushca
// serve` as a wm6 device: with the CA's root every check passes, the push
// latency is measured through the admin API and a two-rung ladder runs;
// without a user it warns; with another CA's root it fails, names the
// problem and sends no password.
func TestVerifyThroughTheBinary(t *testing.T) {
	bed := newVerifyBed(t)
	other := filepath.Join(t.TempDir(), "other")
	mustPushca(t, passwordEnv(t, "ca password"), "--dir", other, "init", "--host", "mail.test", "--profile", "wm6")
	dir, pwFile, srv, addrs, url, device := bed.dir, bed.pwFile, bed.srv, bed.addrs, bed.url, bed.device()

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

	// A state directory without the admin token (PUSHCA_DIR left over on a
	// machine) used to make verify exit 1 before checking anything.
	stray := []string{"PUSHCA_DIR=" + t.TempDir()}
	alice := []string{"--root", ca.Layout{Dir: dir}.RootCert(), "--user", "alice", "--password-file", pwFile, "--heartbeat", "1"}
	res = runPushca(t, stray, append(device, alice...)...)
	if res.code != 0 || !strings.Contains(res.stdout, "PASS  ping") || strings.Contains(res.stdout, "push ") || !strings.Contains(res.stderr, "push latency not measured") {
		t.Errorf("stray PUSHCA_DIR: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	// Asked for, the measurement needs the token.
	res = runPushca(t, stray, append(append(device, alice...), "--push-via-admin")...)
	if res.code != 1 || !strings.Contains(res.stderr, "push measurement:") {
		t.Errorf("--push-via-admin without a token: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	srv.stop(t, syscall.SIGTERM)
}

// TestVerifyInterruptedDuringPing: Ctrl-C or SIGTERM while a Ping is held
// used to be reported as a network cut, with NAT advice. Now verify prints
// the checks that finished, says "interrupted" and exits 1.
func TestVerifyInterruptedDuringPing(t *testing.T) {
	bed := newVerifyBed(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ch := startPushca(t, nil, append(append([]string{"--verbose"}, bed.device()...), "--root", ca.Layout{Dir: bed.dir}.RootCert(),
				"--user", "alice", "--password-file", bed.pwFile, "--heartbeat", "30")...)
			ch.waitForStderr(t, "holding a Ping")
			time.Sleep(300 * time.Millisecond) // the request is on its way or held
			if err := ch.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ch.exited:
			case <-time.After(30 * time.Second):
				t.Fatalf("still running 30 s after %v", sig)
			}
			var ee *exec.ExitError
			out, errOut := ch.stdout.String(), ch.stderr.String()
			t.Logf("after %v:\n%s\n%s", sig, out, errOut)
			if !errors.As(ch.err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("after %v: %v, want exit 1", sig, ch.err)
			}
			if !strings.Contains(out, "PASS  sync") || !strings.Contains(out, "interrupted") || strings.Contains(out, "ping ") || strings.Contains(out, "1800 s") ||
				!strings.Contains(errOut, "interrupted") {
				t.Errorf("after %v:\nstdout: %s\nstderr: %s", sig, out, errOut)
			}
		})
	}
	bed.srv.stop(t, syscall.SIGTERM)
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

// waitForStderr waits, at most a minute, until the process has written
// want on stderr; it fails the test if the process exits first.
func (ch *child) waitForStderr(t *testing.T, want string) {
	t.Helper()
	for range 600 {
		if strings.Contains(ch.stderr.String(), want) {
			return
		}
		select {
		case <-ch.exited:
			t.Fatalf("pushca %v exited before writing %q: %v\nstdout: %s\nstderr: %s", ch.cmd.Args[1:], want, ch.err, ch.stdout.String(), ch.stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("pushca %v did not write %q within a minute\nstderr: %s", ch.cmd.Args[1:], want, ch.stderr.String())
}
