package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pushca/pushca/ca"
)

// TestVerifyAutodiscoverAgainstServe finds `pushca serve` on loopback the
// way a device finds its server, with --resolve standing in for DNS: once
// at https://autodiscover.DOMAIN/, once through the redirect the plain-HTTP
// listener gives, and then runs the ActiveSync checks on the URL serve
// announces (from its --host, not from the request).
func TestVerifyAutodiscoverAgainstServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	caPW := passwordEnv(t, "ca password")
	mustPushca(t, caPW, "--dir", dir, "init", "--host", "mail.example.test", "--profile", "ios")
	mustPushca(t, caPW, "--dir", dir, "cert", "issue", "mail.example.test", "--san", "autodiscover.example.test", "--force")
	pwFile := filepath.Join(t.TempDir(), "alice.pw")
	if err := os.WriteFile(pwFile, []byte("alice secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustPushca(t, nil, "--dir", dir, "users", "add", "alice", "--password-file", pwFile)
	// A 1 s Ping keeps each run short, within the two minutes the child has.
	srv, addrs := startServe(t, dir, "--host", "mail.example.test", "--heartbeat-min", "1")
	https, plain := addrs["ActiveSync"], addrs["Enrollment"]
	_, port, _ := net.SplitHostPort(https)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	base := []string{"verify", "--autodiscover", "alice@example.test", "--root", ca.Layout{Dir: dir}.RootCert(), "--profile", "ios",
		"--password-file", pwFile, "--heartbeat", "1", "--resolve", "example.test:443:" + closed, "--resolve", "mail.example.test:" + port + ":127.0.0.1"}
	wantURL := "https://mail.example.test:" + port + "/Microsoft-Server-ActiveSync"
	for _, c := range []struct {
		name, step string
		resolve    []string
	}{
		{"autodiscover.DOMAIN", "autodiscover step 2 https://autodiscover.example.test/autodiscover/autodiscover.xml MobileSync URL " + wantURL,
			[]string{"--resolve", "autodiscover.example.test:443:" + https}},
		{"HTTP redirect", "autodiscover step 3 https://mail.example.test:" + port + "/autodiscover/autodiscover.xml MobileSync URL " + wantURL,
			[]string{"--resolve", "autodiscover.example.test:443:" + closed, "--resolve", "autodiscover.example.test:80:" + plain}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runPushca(t, nil, append(append([]string{}, base...), c.resolve...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			out := strings.Join(strings.Fields(r.stdout), " ")
			for _, want := range []string{c.step, "PASS autodiscover alice@example.test is served at " + wantURL, "PASS ping"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
	if r := runPushca(t, nil, "verify", "https://mail.example.test", "--resolve", "mail.example.test:443:127.0.0.1"); r.code != exitUsage && r.code != 1 {
		t.Errorf("--resolve without --autodiscover: exit %d, %s", r.code, r.stderr)
	}
	srv.stop(t, syscall.SIGTERM)
}
