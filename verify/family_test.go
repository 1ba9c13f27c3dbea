package verify

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushca/pushca/profile"
)

// TLS extension numbers (RFC 8446 §4.2) a legacy hello must not carry:
// their absence is what tells a server to present the legacy chain.
const (
	extSignatureAlgorithms     = 13
	extSignatureAlgorithmsCert = 50
)

// hello is what a server saw of one ClientHello, copied out of
// tls.ClientHelloInfo, which belongs to the handshake.
type hello struct {
	versions, suites, extensions []uint16
	schemes                      []tls.SignatureScheme
}

// helloServer is a TLS server on loopback that presents, for each
// ClientHello, the chain choose picks, and keeps the hellos it saw: the
// hello the verifier sends is checked as a server sees it, and a server
// choosing by the reference's rule alone (not push's own, unexported
// choice) gives each profile its chain.
type helloServer struct {
	addr   string
	mu     sync.Mutex
	hellos []hello
}

// serverHandshakeBound bounds each handshake the test server takes part in.
const serverHandshakeBound = 10 * time.Second

func newHelloServer(t *testing.T, choose func(*tls.ClientHelloInfo) tls.Certificate) *helloServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &helloServer{addr: ln.Addr().String()}
	// The suites the legacy profiles speak, as a mixed server must offer
	// them; modern hellos negotiate TLS 1.3, whose suites are not
	// configurable.
	var suites []uint16
	for _, p := range profile.All() {
		for _, id := range p.Suites {
			if !slices.Contains(suites, id) {
				suites = append(suites, id)
			}
		}
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS10,
		CipherSuites: suites,
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			s.mu.Lock()
			s.hellos = append(s.hellos, hello{
				versions: slices.Clone(h.SupportedVersions), suites: slices.Clone(h.CipherSuites),
				extensions: slices.Clone(h.Extensions), schemes: slices.Clone(h.SignatureSchemes),
			})
			s.mu.Unlock()
			c := choose(h)
			return &c, nil
		},
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(serverHandshakeBound))
				// Handshakes a device refuses end in an error here; the
				// verifier's report is what the tests judge.
				tls.Server(c, cfg).Handshake()
			})
		}
	})
	return s
}

// last returns the last hello the server saw.
func (s *helloServer) last(t *testing.T) hello {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hellos) == 0 {
		t.Fatal("the server saw no ClientHello")
	}
	return s.hellos[len(s.hellos)-1]
}

// legacyHello is the selection rule of reference/trust-and-servers.md §1
// in its simplest form: no signature_algorithms, or nothing above TLS 1.1,
// is a Windows Mobile device.
func legacyHello(h *tls.ClientHelloInfo) bool {
	return len(h.SignatureSchemes) == 0 ||
		!slices.ContainsFunc(h.SupportedVersions, func(v uint16) bool { return v >= tls.VersionTLS12 })
}

// TestMixedServer checks one server holding a legacy and a modern chain
// under one root as every profile: each sends its own hello, the server
// answers it with the chain that device needs, and every TLS check passes;
// then the same CA served by package push passes the whole command flow.
func TestMixedServer(t *testing.T) {
	c := newTestCA(t, profile.FamilyLegacy, profile.FamilyModern)
	legacy, modern := c.keyPair(t, profile.FamilyLegacy), c.keyPair(t, profile.FamilyModern)
	s := newHelloServer(t, func(h *tls.ClientHelloInfo) tls.Certificate {
		if legacyHello(h) {
			return legacy
		}
		return modern
	})
	names := []string{"wm5", "wm6", "ios", "android", "modern"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			p, err := profile.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			r := run(t, device(s.addr, name, c.root))
			for _, ch := range r.Checks {
				if ch.Name == "activesync" {
					if ch.Verdict != Warn || !strings.Contains(ch.Detail, "no user given") {
						t.Errorf("activesync: %+v", ch)
					}
				} else if ch.Verdict != Pass {
					t.Errorf("%s: %+v", ch.Name, ch)
				}
			}
			if r.TLS == nil || r.TLS.Family != p.Family || r.TLS.Root == nil || r.TLS.Root.SHA256 != certInfo(c.root, time.Now()).SHA256 {
				t.Fatalf("TLS: %+v, want the %s chain under the one root", r.TLS, p.Family)
			}
			h := s.last(t)
			if p.Legacy {
				if slices.Contains(h.extensions, extSignatureAlgorithms) || slices.Contains(h.extensions, extSignatureAlgorithmsCert) || len(h.schemes) > 0 {
					t.Errorf("a %s hello carries signature algorithms: extensions %v, schemes %v", name, h.extensions, h.schemes)
				}
				if !slices.Equal(h.versions, []uint16{tls.VersionTLS10}) || !sameSet(h.suites, p.Suites) {
					t.Errorf("%s hello offers versions %x and suites %x; want TLS 1.0 only and %x", name, h.versions, h.suites, p.Suites)
				}
				if r.TLS.Version != "TLS 1.0" || !strings.Contains(r.TLS.Hello, "no signature_algorithms") {
					t.Errorf("TLS: %+v", r.TLS)
				}
			} else {
				if !slices.Contains(h.schemes, tls.ECDSAWithP256AndSHA256) || !slices.Equal(h.versions, []uint16{tls.VersionTLS13, tls.VersionTLS12}) ||
					!slices.Contains(h.suites, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) {
					t.Errorf("%s hello: versions %x, suites %x, schemes %v; want TLS 1.2-1.3 offering ECDSA", name, h.versions, h.suites, h.schemes)
				}
				if r.TLS.Version != "TLS 1.3" || !strings.HasPrefix(r.TLS.Chain[0].Key, "ECDSA") {
					t.Errorf("TLS: %+v", r.TLS)
				}
			}
			var text strings.Builder
			if err := r.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			data, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "the "+p.Family+" chain family") || !strings.Contains(string(data), `"family":"`+p.Family+`"`) {
				t.Errorf("the family is not reported:\n%s\n%s", text.String(), data)
			}
		})
	}

	ps := serve(t, c, nil)
	for _, name := range names {
		t.Run("push/"+name, func(t *testing.T) {
			p, err := profile.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			r := run(t, options(ps, name, c.root))
			if r.Verdict() != Pass || r.TLS.Family != p.Family || r.Push == nil || r.Push.Fetched != 1 {
				t.Fatalf("want every check passed on the %s chain: TLS %+v, failed %+v", p.Family, r.TLS, r.Failed())
			}
		})
	}
}

// TestOneFamilyServers checks servers that present one chain to every
// hello: the legacy chain fails an iPhone on SHA-1, the modern one fails
// Windows Mobile, each with what to do.
func TestOneFamilyServers(t *testing.T) {
	c := newTestCA(t, profile.FamilyLegacy, profile.FamilyModern)
	legacy, modern := c.keyPair(t, profile.FamilyLegacy), c.keyPair(t, profile.FamilyModern)
	legacyOnly := newHelloServer(t, func(*tls.ClientHelloInfo) tls.Certificate { return legacy })
	modernOnly := newHelloServer(t, func(*tls.ClientHelloInfo) tls.Certificate { return modern })

	t.Run("legacy chain to ios", func(t *testing.T) {
		r := run(t, device(legacyOnly.addr, "ios", c.root))
		if r.Verdict() != Fail || r.TLS == nil || r.TLS.Family != profile.FamilyLegacy {
			t.Fatalf("verdict %s, TLS %+v", r.Verdict(), r.TLS)
		}
		got := check(t, r, "device profile")
		if got.Verdict != Fail || !strings.Contains(got.Detail, "ios devices reject SHA-1 signatures") ||
			!strings.Contains(got.Do, "presented the legacy chain") || !strings.Contains(got.Do, "pushca ca add-family modern") {
			t.Errorf("device profile: %+v", got)
		}
		if root := check(t, r, "chain to root"); root.Verdict != Pass {
			t.Errorf("the legacy chain is under the same root: %+v", root)
		}
	})
	t.Run("modern chain to wm5", func(t *testing.T) {
		r := run(t, device(modernOnly.addr, "wm5", c.root))
		// No suite of a wm5 hello can carry an ECDSA certificate, so the
		// handshake fails before a chain is presented.
		got := check(t, r, "tls")
		if r.Verdict() != Fail || got.Verdict != Fail || !strings.Contains(got.Do, "need the legacy chain") ||
			!strings.Contains(got.Do, "TLS 1.0 only; TLS_RSA_WITH_3DES_EDE_CBC_SHA, TLS_RSA_WITH_RC4_128_SHA; no signature_algorithms") {
			t.Errorf("tls: %+v", got)
		}
		if h := modernOnly.last(t); len(h.schemes) > 0 {
			t.Errorf("a wm5 hello offered signature schemes %v", h.schemes)
		}
	})
}

// sameSet says whether a and b hold the same suites in any order: Go's
// client orders the suites it offers by its own preference.
func sameSet(a, b []uint16) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
