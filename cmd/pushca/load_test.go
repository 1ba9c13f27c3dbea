package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pushca/pushca/load"
)

// TestLoadThroughTheBinary loads a running pushca serve with a small crowd
// and two probes: every Ping held, every probe woken by its own push, the
// broadcast answered by all, and a TLS 1.0 handshake rate since wm6 is on.
func TestLoadThroughTheBinary(t *testing.T) {
	const devices = 20
	dir := filepath.Join(t.TempDir(), "state")
	mustPushca(t, passwordEnv(t, "ca password"), "--dir", dir, "init", "--host", "mail.test", "--profile", "wm6")
	pw := filepath.Join(t.TempDir(), "load.pw")
	if err := os.WriteFile(pw, []byte("load secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bench", "probe0", "probe1"} {
		mustPushca(t, nil, "--dir", dir, "users", "add", u, "--password-file", pw)
	}
	srv, addrs := startServe(t, dir, "--host", "mail.test", "--profile", "wm6")
	out := mustPushca(t, nil, "--dir", dir, "load", "https://"+addrs["ActiveSync"], "--server-name", "mail.test",
		"--devices", "20", "--probes", "2", "--password-file", pw, "--admin", addrs["Admin API"],
		"--pid", strconv.Itoa(srv.cmd.Process.Pid), "--idle", "300ms", "--handshakes", "300ms", "--json")
	var rep struct {
		Run        load.Result
		Handshakes []load.Handshakes
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("load --json: %v\n%s", err, out)
	}
	r := rep.Run
	if r.Held != devices || r.Errors != 0 || r.Answered != devices || r.Push.Samples != 2 {
		t.Fatalf("held %d errors %d %v answered %d probes %d", r.Held, r.Errors, r.First, r.Answered, r.Push.Samples)
	}
	if len(rep.Handshakes) != len(load.Suites()) || rep.Handshakes[0].Count == 0 || rep.Handshakes[0].Leaf != "RSA" {
		t.Errorf("handshakes: %+v", rep.Handshakes)
	}
	if r.HeldMemory.RSS <= 0 || r.Before.Anon <= 0 {
		t.Errorf("server memory not read from /proc: %+v → %+v", r.Before, r.HeldMemory)
	}
	srv.stop(t, syscall.SIGTERM)
}

// TestLoadRefusesOtherHosts: a load run is never aimed off this machine.
func TestLoadRefusesOtherHosts(t *testing.T) {
	for _, u := range []string{"https://192.0.2.10:8443", "http://127.0.0.1:8080", "mail.example.com"} {
		r := runPushca(t, nil, "load", u)
		if r.code == 0 || !strings.Contains(r.stderr, "server URL") {
			t.Errorf("load %s: exit %d, %s", u, r.code, r.stderr)
		}
	}
}
