package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

// servedChain is the chain a new connection with these s_client options
// gets, as openssl sees it; the handshake must verify against the root
// alone, so the intermediate has to come from the server.
func (ts *testServer) servedChain(t *testing.T, hello ...string) []*x509.Certificate {
	t.Helper()
	args := append([]string{"s_client", "-connect", ts.HTTPSAddr(), "-servername", testHost,
		"-CAfile", ts.rootPath, "-verify_return_error", "-showcerts"}, hello...)
	out := testtool.MustRun(t, []byte{}, "openssl", args...)
	if !strings.Contains(string(out), "Verify return code: 0 (ok)") {
		t.Fatalf("openssl s_client did not verify the chain:\n%s", out)
	}
	var chain []*x509.Certificate
	for rest := out; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) != 2 {
		t.Fatalf("openssl got %d certificates, want leaf and intermediate", len(chain))
	}
	return chain
}

// proofPings is how many Pings the rotation proof holds: 1,000 by default,
// the figure the proof asks for (about 20 s under -race on 2 cores);
// PUSHCA_PROOF_PINGS sets another count for quicker local runs.
func proofPings(t *testing.T) int {
	s := os.Getenv("PUSHCA_PROOF_PINGS")
	if s == "" {
		return 1000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("PUSHCA_PROOF_PINGS=%q: want a positive count", s)
	}
	return n
}

type proofDevice struct {
	c          *eas.Client
	handshakes atomic.Int32
	first      atomic.Pointer[x509.Certificate]
	reply      chan pingReply
}

// TestRotationUnderHeldPings holds many Pings, each on its own connection,
// while the server renews its certificate (auto-renew, clock moved on) and
// the CA rotates its intermediate and reissues the leaf under it. New
// connections get the new chain, checked by openssl; every held Ping is
// still held, and a push answers each on the connection it started on.
func TestRotationUnderHeldPings(t *testing.T) {
	testtool.Path(t, "openssl")
	n := proofPings(t)
	clock := &offsetClock{waits: make(chan chan time.Time, 4)}
	ts := startCAServer(t, []string{profile.FamilyModern}, "", nil, func(cfg *Config) {
		cfg.DevicesPerUser = -1 // every proof device is alice's
		renew := RenewWithCA(cfg.Dir, testHost, []byte(testCAPassword), cfg.Log)
		cfg.AutoRenew = &AutoRenew{Clock: clock, Renew: func(ctx context.Context) error {
			clock.set(0)
			return renew(ctx)
		}}
	})
	original := ts.servedChain(t)

	start := time.Now()
	devs := make([]*proofDevice, n)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range devs {
		d := &proofDevice{c: ts.client("14.1", fmt.Sprintf("PROOF%04d", i), false), reply: make(chan pingReply, 1)}
		cfg := d.c.HTTP.Transport.(*http.Transport).TLSClientConfig
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			d.handshakes.Add(1)
			d.first.CompareAndSwap(nil, cs.PeerCertificates[0])
			return nil
		}
		devs[i] = d
		go func() {
			var r *eas.PingResponse
			_, err := d.c.Provision(ctx)
			if err == nil {
				r, err = d.c.Ping(ctx, inboxPing(3000))
			}
			d.reply <- pingReply{r, err}
		}()
	}
	waitHeld(t, ts, devs)
	t.Logf("%d Pings held after %v", n, time.Since(start).Round(time.Millisecond))

	// Renewal: 17 hours of the one-day certificate pass.
	wait := clock.nextWait(t)
	clock.set(17 * time.Hour)
	wait <- time.Now()
	clock.nextWait(t)
	renewed := ts.servedChain(t)
	if renewed[0].SerialNumber.Cmp(original[0].SerialNumber) == 0 {
		t.Fatal("a new connection still gets the original leaf after the renewal")
	}
	if !renewed[1].Equal(original[1]) {
		t.Fatal("a renewal changed the intermediate")
	}
	if h := ts.hub.Held(); h != n {
		t.Fatalf("%d of %d Pings held after the renewal", h, n)
	}

	// Intermediate rotation, as `pushca ca rotate-intermediate` does it.
	authority, err := ca.Open(ctx, ts.dir, []byte(testCAPassword))
	if err != nil {
		t.Fatal(err)
	}
	err = authority.RotateIntermediate(ctx, []byte(testCAPassword), 0)
	if err == nil {
		_, err = authority.Renew(ctx, testHost)
	}
	newInter := authority.Intermediate(profile.FamilyModern)
	authority.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err != nil { // SIGHUP
		t.Fatal(err)
	}
	rotated := ts.servedChain(t)
	if !rotated[1].Equal(newInter) || rotated[1].Equal(original[1]) {
		t.Fatalf("after the rotation a new connection gets intermediate %q, want the new %q", rotated[1].Subject.CommonName, newInter.Subject.CommonName)
	}
	if rotated[0].CheckSignatureFrom(newInter) != nil || rotated[0].SerialNumber.Cmp(renewed[0].SerialNumber) == 0 {
		t.Fatal("the served leaf is not the one reissued under the new intermediate")
	}
	if h := ts.hub.Held(); h != n {
		t.Fatalf("%d of %d Pings held after the rotation", h, n)
	}

	res := ts.deliver(t, "after rotation", "body")
	if res.Woken != n {
		t.Errorf("the push woke %d held Pings, want %d", res.Woken, n)
	}
	for i, d := range devs {
		select {
		case r := <-d.reply:
			if r.err != nil || r.resp.Status != eas.PingChanges {
				t.Fatalf("device %d: Ping ended with %v, %v; want status 2", i, r.resp, r.err)
			}
		case <-ctx.Done():
			t.Fatalf("device %d: Ping not answered", i)
		}
		if h := d.handshakes.Load(); h != 1 || d.first.Load().SerialNumber.Cmp(original[0].SerialNumber) != 0 {
			t.Fatalf("device %d: %d handshakes, first with serial %v: the Ping did not finish on its original connection", i, h, d.first.Load().SerialNumber)
		}
	}
	t.Logf("renewal, rotation and push with %d held Pings in %v", n, time.Since(start).Round(time.Millisecond))
}

// waitHeld waits, bounded, until the hub holds every device's Ping.
func waitHeld(t *testing.T, ts *testServer, devs []*proofDevice) {
	t.Helper()
	for range 1200 {
		if ts.hub.Held() == len(devs) {
			return
		}
		for i, d := range devs {
			select {
			case r := <-d.reply:
				t.Fatalf("device %d: Ping ended before it was held: %v, %v", i, r.resp, r.err)
			default:
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d of %d Pings held after a minute", ts.hub.Held(), len(devs))
}
