package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/plan"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/state"
)

// activeSerials reads host/family → serial of the active certificates
// through cert list, as an operator would.
func activeSerials(t *testing.T, dir string) map[string]string {
	t.Helper()
	var recs []ca.Record
	if err := json.Unmarshal([]byte(mustPushca(t, nil, "--dir", dir, "cert", "list", "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range recs {
		if r.State == ca.StateActive {
			out[r.Host+"/"+r.Family] = r.Serial
		}
	}
	return out
}

// recordDevices records devs in push/devices.db through push's own Devices,
// as pushca serve would have after their handshakes.
func recordDevices(t *testing.T, dir string, devs []state.Device) {
	t.Helper()
	path := push.DevicesPath(dir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	d, err := state.OpenBoltDevices(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range devs {
		if _, err := d.Update(context.Background(), dev.User, dev.ID, func(rec *state.Device) {
			rec.Type, rec.Protocol, rec.UserAgent, rec.Cert, rec.Family = dev.Type, dev.Protocol, dev.UserAgent, dev.Cert, dev.Family
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// fleetOn is a Windows Mobile 5 phone and an iPhone that last handshook
// with host's legacy and modern certificates.
func fleetOn(serials map[string]string, host string) []state.Device {
	return []state.Device{
		{User: "alice", ID: "WM5ALICE", Type: "PocketPC", Protocol: "2.5", UserAgent: "MSFT-PPC/5.1.2200", Cert: serials[host+"/legacy"], Family: "legacy"},
		{User: "bob", ID: "IPHONEBOB", Type: "iPhone", Protocol: "14.1", UserAgent: "Apple-iPhone3C1/811.2", Cert: serials[host+"/modern"], Family: "modern"},
	}
}

// cert plan says what a change would cut off, and cert revoke and cert
// rotate refuse it unless --force, except for a compromised key.
func TestCertPlanThroughTheBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	env := passwordEnv(t, "fleet password")
	mustPushca(t, env, "--dir", dir, "init", "--host", "mail.example.com", "--profiles", "wm5,ios")
	mustPushca(t, env, "--dir", dir, "cert", "issue", "other.example.com", "--family", "legacy")
	serials := activeSerials(t, dir)
	devs := append(fleetOn(serials, "mail.example.com"),
		state.Device{User: "olga", ID: "WM5OLGA", Type: "PocketPC", Protocol: "2.5", Cert: serials["other.example.com/legacy"], Family: "legacy"})
	recordDevices(t, dir, devs)

	// What a renew or rotate keeps loses nothing; no CA password needed.
	r := runPushca(t, nil, "--dir", dir, "cert", "plan", "mail.example.com")
	if r.code != 0 || !strings.Contains(r.stdout, "2 known device(s)") || !strings.Contains(r.stdout, "no known device would lose") {
		t.Errorf("plan of a renew: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runPushca(t, nil, "--dir", dir, "cert", "plan", "mail.example.com", "--drop", "legacy")
	if r.code != exitPlanLoses || !strings.Contains(r.stdout, "wm5 (accepts legacy): 1 device(s)") ||
		!strings.Contains(r.stdout, "WM5ALICE") || !strings.Contains(r.stdout, "MSFT-PPC/5.1.2200") ||
		strings.Contains(r.stdout, "IPHONEBOB") || strings.Contains(r.stdout, "WM5OLGA") {
		t.Errorf("plan --drop legacy: exit %d, want %d naming the WM5 phone only\n%s%s", r.code, exitPlanLoses, r.stdout, r.stderr)
	}
	// modern-rsa instead of modern: the iPhone takes it, Windows Mobile
	// takes only legacy.
	r = runPushca(t, nil, "--dir", dir, "cert", "plan", "mail.example.com", "--family", "modern-rsa", "--json")
	var rep struct {
		plan.Report
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitPlanLoses {
		t.Fatalf("plan --json: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if rep.Devices != 2 || len(rep.Lost) != 1 || strings.Join(rep.Lost[0].Profiles, ",") != "wm5" || len(rep.Lost[0].Devices) != 1 ||
		rep.Lost[0].Devices[0].ID != "WM5ALICE" || rep.Lost[0].Devices[0].LastSeen.IsZero() || rep.Source != push.DevicesPath(dir) {
		t.Errorf("plan --json: %+v", rep)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cert", "plan"}, exitUsage, "exactly one HOST"},
		{[]string{"cert", "plan", "mail.example.com", "--drop", "modern-rsa"}, exitUsage, "would not serve modern-rsa"},
		{[]string{"cert", "plan", "mail.example.com", "--family", "ecdsa"}, exitUsage, "unknown chain family"},
		{[]string{"cert", "plan", "mail.example.com", "--admin", "192.0.2.1:8444"}, exitUsage, "not a loopback address"},
		{[]string{"cert", "plan", "nobody.example.com"}, 1, "no certificate in the inventory"},
	} {
		if r := runPushca(t, nil, append([]string{"--dir", dir}, tc.args...)...); r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("pushca %v: exit %d, want %d and %q\n%s", tc.args, r.code, tc.code, tc.want, r.stderr)
		}
	}

	// cert revoke HOST --family legacy refuses, listing the phone, and
	// revokes nothing; --force goes on.
	r = runPushca(t, env, "--dir", dir, "cert", "revoke", "mail.example.com", "--family", "legacy")
	if r.code == 0 || !strings.Contains(r.stderr, "refused") || !strings.Contains(r.stderr, "WM5ALICE") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("revoke --family legacy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := activeSerials(t, dir)["mail.example.com/legacy"]; got != serials["mail.example.com/legacy"] {
		t.Fatalf("a refused revoke changed the legacy certificate: %q", got)
	}
	if out := mustPushca(t, env, "--dir", dir, "cert", "revoke", "mail.example.com", "--family", "legacy", "--force"); !strings.Contains(out, "revoked "+serials["mail.example.com/legacy"]) {
		t.Errorf("revoke --force:\n%s", out)
	}

	// The phone is still the host's (its record names the revoked
	// certificate), and rotating the now ECDSA-only host is refused.
	r = runPushca(t, env, "--dir", dir, "cert", "rotate", "mail.example.com")
	if r.code == 0 || !strings.Contains(r.stderr, "cert rotate mail.example.com refused") || !strings.Contains(r.stderr, "WM5ALICE") || strings.Contains(r.stdout, "issued") {
		t.Errorf("rotate of an ECDSA-only host WM phones use: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := activeSerials(t, dir)["mail.example.com/modern"]; got != serials["mail.example.com/modern"] {
		t.Fatalf("a refused rotate issued %q", got)
	}
	if out := mustPushca(t, env, "--dir", dir, "cert", "rotate", "mail.example.com", "--force"); strings.Count(out, "issued") != 1 {
		t.Errorf("rotate --force:\n%s", out)
	}

	// A compromised key is revoked at once: the loss is a warning.
	r = runPushca(t, env, "--dir", dir, "cert", "revoke", "other.example.com", "--reason", "key-compromise")
	if r.code != 0 || !strings.Contains(r.stdout, "revoked "+serials["other.example.com/legacy"]) || !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "WM5OLGA") {
		t.Errorf("revoke --reason key-compromise: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// While pushca serve holds push/devices.db, cert plan asks its admin API
// for the records.
func TestCertPlanAsksARunningServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	mustPushca(t, passwordEnv(t, "fleet password"), "--dir", dir, "init", "--host", "mail.test", "--profiles", "wm5,ios")
	recordDevices(t, dir, fleetOn(activeSerials(t, dir), "mail.test"))
	srv, addrs := startServe(t, dir, "--host", "mail.test")

	start := time.Now()
	r := runPushca(t, nil, "--dir", dir, "cert", "plan", "mail.test", "--drop", "legacy", "--admin", addrs["Admin API"])
	if r.code != exitPlanLoses || !strings.Contains(r.stdout, "WM5ALICE") || strings.Contains(r.stdout, "IPHONEBOB") || !strings.Contains(r.stdout, "the admin API at "+addrs["Admin API"]) {
		t.Errorf("plan beside a running serve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("plan took %v: it waited for the lock instead of asking the server", d)
	}
	// A server that does not answer where --admin says is an error that
	// says why the file was not read.
	r = runPushca(t, nil, "--dir", dir, "cert", "plan", "mail.test", "--admin", "127.0.0.1:1")
	if r.code != 1 || !strings.Contains(r.stderr, "held by a running pushca serve") || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("plan with the admin API elsewhere: exit %d\n%s", r.code, r.stderr)
	}
	srv.stop(t, syscall.SIGTERM)
}
