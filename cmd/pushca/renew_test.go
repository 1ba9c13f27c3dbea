package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeAutoRenewThroughTheBinary: --auto-renew refuses to start on a
// wrong password or a bad --renew-at instead of failing months later,
// schedules the renewal and that of the CRLs init wrote, leaves the CA free for other
// commands while it runs, and reloads on SIGHUP.
func TestServeAutoRenewThroughTheBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	pw := passwordEnv(t, "ca password")
	mustPushca(t, pw, "--dir", dir, "init", "--host", "mail.test", "--profile", "modern")
	serve := []string{"--dir", dir, "serve", "--host", "mail.test", "--https", "127.0.0.1:0", "--http", "", "--admin", "127.0.0.1:0", "--auto-renew"}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{passwordEnv(t, "wrong"), nil, "wrong CA password"},
		{nil, nil, "--password-file"},
		{pw, []string{"--renew-at", "1"}, "--renew-at"},
		{pw, []string{"--renew-at", "two thirds"}, "--renew-at"},
		{pw, []string{"--cert", "c.pem", "--key", "k.pem"}, "cannot renew --cert/--key"},
	} {
		r := runPushca(t, tc.env, append(serve, tc.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stdout, "ActiveSync:") {
			t.Errorf("serve --auto-renew %v: exit %d, stderr %q; want a refusal naming %q before listening", tc.args, r.code, r.stderr, tc.want)
		}
	}

	srv := startPushca(t, pw, append(serve, "--renew-at", "3/4")...)
	srv.waitFor(t, func(lines []string) bool { return len(listenAddrs(lines)) >= 2 })
	waitStderr(t, srv, "server certificate renewal scheduled")
	waitStderr(t, srv, "CRL renewal scheduled") // init wrote the first CRLs
	// The CA database is not held between renewals.
	if out := mustPushca(t, pw, "--dir", dir, "cert", "list"); !strings.Contains(out, "mail.test") {
		t.Fatalf("cert list while serving:\n%s", out)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitStderr(t, srv, "certificates and users reloaded")
	srv.stop(t, syscall.SIGTERM)
}

// waitStderr waits, bounded, for a log line.
func waitStderr(t *testing.T, ch *child, want string) {
	t.Helper()
	for range 300 {
		if strings.Contains(ch.stderr.String(), want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %q in the log within 30 s:\n%s", want, ch.stderr.String())
}
