package main

import (
	"encoding/json"
	"net"
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

// TestLoadChecksEveryEndpoint: a second URL off loopback is refused as the
// first is, and each further URL needs its admin API named, before any
// device dials.
func TestLoadChecksEveryEndpoint(t *testing.T) {
	r := runPushca(t, nil, "load", "https://127.0.0.1:8443", "https://192.0.2.10:9443", "--instance-admin", "127.0.0.1:9444")
	if r.code == 0 || !strings.Contains(r.stderr, "192.0.2.10") {
		t.Errorf("second endpoint off loopback: exit %d, %s", r.code, r.stderr)
	}
	r = runPushca(t, nil, "load", "https://127.0.0.1:8443", "https://127.0.0.1:9443")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--instance-admin") {
		t.Errorf("no --instance-admin for the second URL: exit %d, %s", r.code, r.stderr)
	}
	r = runPushca(t, nil, "load", "https://127.0.0.1:8443", "https://127.0.0.1:9443", "--instance-admin", "192.0.2.10:9444")
	if r.code == 0 || !strings.Contains(r.stderr, "not a loopback address") {
		t.Errorf("--instance-admin off loopback: exit %d, %s", r.code, r.stderr)
	}
}

// TestLoadAsTheREADMEShowsAgainstQuickstart runs the README's load line
// (fewer devices, the test's ports) against quickstart, as a user who
// followed the README would: no users created by hand, no --pid (pgrep
// -f 'pushca serve' finds no quickstart), no --server-name (the URL's
// 127.0.0.1 must match the certificate's IP SAN).
func TestLoadAsTheREADMEShowsAgainstQuickstart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	qs := startPushca(t, nil, "--dir", dir, "quickstart", "--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--devices-per-user", "0")
	addrs := listenAddrs(qs.waitFor(t, func(l []string) bool { return len(printedCommands(l, "verify")) > 0 }))
	_, port, _ := net.SplitHostPort(addrs["ActiveSync URL"])

	// A user of that name with another password: refused before any
	// device connects, rather than thousands of failed logins.
	other := filepath.Join(t.TempDir(), "other.pw")
	if err := os.WriteFile(other, []byte("not the load password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustPushca(t, nil, "--dir", dir, "users", "add", "alice", "--password-file", other)
	if r := runPushca(t, nil, "--dir", dir, "load", "https://127.0.0.1:"+port, "--user", "alice", "--probes", "0", "--admin", addrs["Admin API"]); r.code == 0 || !strings.Contains(r.stderr, "user alice exists") {
		t.Errorf("load as an existing user with another password: exit %d\n%s", r.code, r.stderr)
	}

	args := readmeLine(t, "pushca load ")
	for i, a := range args {
		switch {
		case a == "https://127.0.0.1:8443":
			args[i] = "https://127.0.0.1:" + port
		case i > 0 && args[i-1] == "--devices":
			args[i] = "5"
		}
	}
	args = append(append([]string{"--dir", dir}, args[1:]...), "--probes", "2", "--admin", addrs["Admin API"],
		"--idle", "200ms", "--handshakes", "200ms", "--json")
	var rep struct {
		ServerPID  int `json:"server_pid"`
		Run        load.Result
		Handshakes []load.Handshakes
	}
	for run := range 2 { // the second with the users and password the first made
		out := mustPushca(t, nil, args...)
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("load --json: %v\n%s", err, out)
		}
		r := rep.Run
		if r.Held != 5 || r.Errors != 0 || r.Answered != 5 || r.Push.Samples != 2 {
			t.Fatalf("run %d: held %d errors %d %v answered %d probes %d", run, r.Held, r.Errors, r.First, r.Answered, r.Push.Samples)
		}
		if rep.ServerPID != qs.cmd.Process.Pid || r.HeldMemory.RSS <= 0 {
			t.Errorf("run %d: measured pid %d (quickstart is %d), memory %+v", run, rep.ServerPID, qs.cmd.Process.Pid, r.HeldMemory)
		}
	}
	users := mustPushca(t, nil, "--dir", dir, "users", "list")
	for _, u := range []string{"bench", "probe0", "probe1"} {
		if !strings.Contains(users, u) {
			t.Errorf("load did not create %s: %s", u, users)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "push", "load-password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("push/load-password: %v %v", fi, err)
	}
	qs.stop(t, syscall.SIGINT)
}

// TestLoadWithAnEmptyPgrepBeforeItsPid: `--pid $(pgrep ...)` where pgrep
// finds nothing leaves --pid taking the next argument, the URL.
func TestLoadWithAnEmptyPgrepBeforeItsPid(t *testing.T) {
	for _, args := range [][]string{
		{"load", "https://127.0.0.1:8443", "--pid"},
		{"load", "--pid", "https://127.0.0.1:8443"},
		{"load", "https://127.0.0.1:8443", "--pid", "abc"},
		{"load", "https://127.0.0.1:8443", "--pid", "-3"},
	} {
		r := runPushca(t, nil, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "is not a process id (a number)") {
			t.Errorf("pushca %q: exit %d\n%s", args, r.code, r.stderr)
		}
	}
}

// readmeLine is the README's command line starting with prefix, without
// its comment, split as a shell would split it (it has no quotes).
func readmeLine(t *testing.T, prefix string) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(readme), "\n") {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(l), prefix); ok {
			cmd, _, _ = strings.Cut(prefix+cmd, "#")
			if strings.ContainsAny(cmd, `'"$`) {
				t.Fatalf("README line %q needs a shell", l)
			}
			return strings.Fields(cmd)
		}
	}
	t.Fatalf("README has no line starting %q", prefix)
	return nil
}
