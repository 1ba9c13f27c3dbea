package push

import (
	"context"
	"crypto/tls"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/provision"
	"github.com/pushca/pushca/push/ping"
)

const testCAPassword = "ca password"

// startCAServer runs a server on a state directory made by package ca with
// these chain families (CRL URL crlURL), with a one-day certificate for
// testHost in each from the real issuance path. prep, when set, works on
// the CA before the server starts.
func startCAServer(t *testing.T, families []string, crlURL string, prep func(*ca.CA), mod func(*Config)) *testServer {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	if err := ca.Init(ctx, dir, ca.InitOptions{Families: families, Password: []byte(testCAPassword), CRLURL: crlURL}); err != nil {
		t.Fatal(err)
	}
	authority, err := ca.Open(ctx, dir, []byte(testCAPassword))
	if err != nil {
		t.Fatal(err)
	}
	_, err = authority.Issue(ctx, ca.IssueRequest{Host: testHost, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Days: 1})
	if err == nil && prep != nil {
		prep(authority)
	}
	root := authority.Root()
	authority.Close()
	if err != nil {
		t.Fatal(err)
	}
	u, err := OpenUsers(UsersPath(dir), bcrypt.MinCost)
	if err == nil {
		err = u.Add("alice", "secret")
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Dir: dir, Host: testHost, HTTPSAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Heartbeat: ping.HeartbeatBounds{Min: 1, Max: 3540}, BcryptCost: bcrypt.MinCost, Log: testtool.Log(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := ca.Layout{Dir: dir}
	return &testServer{Server: s, dir: dir, rootPath: l.RootCert(), root: &testCA{cert: root}, stop: serveInTest(t, s)}
}

// servedSerial asks openssl which certificate a new handshake with these
// s_client options gets, with the chain verified against the root.
func (ts *testServer) servedSerial(t *testing.T, hello ...string) *big.Int {
	t.Helper()
	args := append([]string{"s_client", "-connect", ts.HTTPSAddr(), "-servername", testHost,
		"-CAfile", ts.rootPath, "-verify_return_error"}, hello...)
	out := testtool.MustRun(t, []byte{}, "openssl", args...)
	if !strings.Contains(string(out), "Verify return code: 0 (ok)") {
		t.Fatalf("openssl s_client did not verify the chain:\n%s", out)
	}
	serial := strings.TrimSpace(string(testtool.MustRun(t, out, "openssl", "x509", "-noout", "-serial")))
	n, ok := new(big.Int).SetString(strings.TrimPrefix(serial, "serial="), 16)
	if !ok {
		t.Fatalf("openssl x509 -serial: %q", serial)
	}
	return n
}

// offsetClock is the system clock moved by an offset the test sets; every
// wait is handed to the test to fire.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
	waits  chan chan time.Time
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- ch
	return ch
}

func (c *offsetClock) set(d time.Duration) {
	c.mu.Lock()
	c.offset = d
	c.mu.Unlock()
}

func (c *offsetClock) nextWait(t *testing.T) chan time.Time {
	t.Helper()
	select {
	case ch := <-c.waits:
		return ch
	case <-time.After(time.Minute):
		t.Fatal("the renewal scheduler asked for no wait")
	}
	return nil
}

// TestAutoRenewKeepsHeldPings lets 17 hours of one-day certificates in
// two chain families pass: the server renews both through the CA, openssl
// sees the new serial of each on a new handshake of its generation, and a
// Ping held on a connection from before completes there.
func TestAutoRenewKeepsHeldPings(t *testing.T) {
	testtool.Path(t, "openssl")
	clock := &offsetClock{waits: make(chan chan time.Time, 4)}
	var renewals int
	var mu sync.Mutex
	ts := startCAServer(t, []string{profile.FamilyLegacy, profile.FamilyModern}, "", nil, func(cfg *Config) {
		real := RenewWithCA(cfg.Dir, testHost, []byte(testCAPassword), cfg.Log)
		cfg.AutoRenew = &AutoRenew{Clock: clock, Renew: func(ctx context.Context) error {
			mu.Lock()
			renewals++
			mu.Unlock()
			clock.set(0) // the CA dates the new certificate by the real clock
			return real(ctx)
		}}
	})
	first := ts.servedSerial(t)
	firstLegacy := ts.servedSerial(t, wmOpenSSL(t)...)

	c := ts.client("14.1", "RENEW1", false)
	var seen []*big.Int
	var seenMu sync.Mutex
	c.HTTP.Transport.(*http.Transport).TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
		seenMu.Lock()
		seen = append(seen, cs.PeerCertificates[0].SerialNumber)
		seenMu.Unlock()
		return nil
	}
	if _, err := c.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	held := ts.heldPing(t, c, inboxPing(600))

	wait := clock.nextWait(t) // towards the due date, 16 hours away
	clock.set(17 * time.Hour)
	wait <- time.Now()
	clock.nextWait(t) // asked once the renewal is done and loaded

	second := ts.servedSerial(t)
	if second.Cmp(first) == 0 {
		t.Fatalf("still serving serial %X after the renewal", first)
	}
	secondLegacy := ts.servedSerial(t, wmOpenSSL(t)...)
	if secondLegacy.Cmp(firstLegacy) == 0 {
		t.Fatalf("still serving legacy serial %X after the renewal", firstLegacy)
	}
	slots, err := ca.ReadSlots(ts.dir)
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]*big.Int{profile.FamilyModern: second, profile.FamilyLegacy: secondLegacy}
	for _, sl := range slots {
		certs, err := provision.ReadCertificates(ca.Layout{Dir: ts.dir}.ServerCert(testHost, sl))
		if err != nil {
			t.Fatal(err)
		}
		if active := certs[0]; active.SerialNumber.Cmp(served[sl.Family]) != 0 {
			t.Fatalf("%s: served %X, the state directory's current certificate is %X", sl.Family, served[sl.Family], active.SerialNumber)
		}
	}
	if ts.hub.Held() != 1 {
		t.Fatalf("%d Pings held after the renewal, want 1", ts.hub.Held())
	}
	ts.deliver(t, "after renewal", "body")
	if r := pingStatus(t, held); r.Status != 2 {
		t.Fatalf("held Ping answered %v, want 2 (changes)", r.Status)
	}
	seenMu.Lock()
	defer seenMu.Unlock()
	if len(seen) != 1 || seen[0].Cmp(first) != 0 {
		t.Fatalf("the device's handshakes saw serials %v, want one, %X: the held Ping moved to another connection", seen, first)
	}
	mu.Lock()
	defer mu.Unlock()
	if renewals != 1 {
		t.Fatalf("%d renewals, want 1", renewals)
	}
}
