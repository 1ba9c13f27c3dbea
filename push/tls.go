package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push/internal/filewatch"
)

// KeyPair names a PEM certificate chain (leaf first), its PEM key and the
// chain family they belong to.
type KeyPair struct {
	Cert, Key string
	// Family is "" for files named by hand: the family is then the one the
	// leaf's key and signature belong to (see profile.FamilyOf), if any.
	Family string
}

// Certificates serves one or more chains — typically a legacy and a modern
// chain family side by side — choosing one per ClientHello (see choose), and
// re-reads the files when they change, so a renewed certificate is used for
// new handshakes without a restart while established connections (held
// Pings) carry on.
type Certificates struct {
	pairs []KeyPair
	extra []profile.Profile
	watch *filewatch.Watch
	log   *slog.Logger

	mu     sync.RWMutex
	chains []chain
}

// LoadCertificates reads every pair whose files exist; at least one must.
// extra are device profiles to serve beyond those the chains' families
// serve (see Profiles).
func LoadCertificates(pairs []KeyPair, extra []profile.Profile, log *slog.Logger) (*Certificates, error) {
	c := &Certificates{pairs: pairs, extra: extra, watch: filewatch.New(time.Second), log: log}
	c.watch.Changed(c.paths()...) // record the stamps of what Reload reads now
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Certificates) paths() []string {
	var out []string
	for _, p := range c.pairs {
		out = append(out, p.Cert, p.Key)
	}
	return out
}

// Reload reads the files now (SIGHUP). On error the previous certificates
// stay in use.
func (c *Certificates) Reload() error {
	var chains []chain
	var errs []error
	for _, p := range c.pairs {
		ch, err := loadChain(resolvePair(p))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		chains = append(chains, ch)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(chains) == 0 {
		return fmt.Errorf("no server certificate: none of %v exists (issue one with `pushca cert issue`)", c.paths())
	}
	c.mu.Lock()
	c.chains = chains
	c.mu.Unlock()
	c.warnUnfit(chains)
	return nil
}

// loadChain reads one pair, of the family it names or else of the one its
// leaf belongs to.
func loadChain(p KeyPair) (chain, error) {
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err == nil && cert.Leaf == nil {
		// Only when GODEBUG=x509keypairleaf=0 leaves it out.
		cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0])
	}
	if err != nil {
		return chain{}, fmt.Errorf("load %s with %s: %w", p.Cert, p.Key, err)
	}
	if p.Family == "" {
		f, _ := profile.FamilyOf(cert.Leaf)
		return chain{cert: &cert, family: f}, nil
	}
	f, err := profile.GetFamily(p.Family)
	if err != nil {
		return chain{}, fmt.Errorf("load %s: %w", p.Cert, err)
	}
	return chain{cert: &cert, family: f}, nil
}

// resolvePair follows a directory symlink once for both files: the CA
// swaps servers/HOST/current atomically, and reading the chain through the
// old target and the key through the new one would pair them wrongly.
func resolvePair(p KeyPair) KeyPair {
	dir := filepath.Dir(p.Cert)
	if filepath.Dir(p.Key) != dir {
		return p
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return p
	}
	p.Cert, p.Key = filepath.Join(real, filepath.Base(p.Cert)), filepath.Join(real, filepath.Base(p.Key))
	return p
}

// Profiles are the device profiles served: the extra ones asked for, then
// every profile one of the chains' families serves, the family of a pair
// whose files are missing included (its devices are told so by warnUnfit).
// They decide the TLS versions and suites on offer (see TLSConfig).
func (c *Certificates) Profiles() []profile.Profile {
	var families []string
	add := func(f string) {
		if f != "" && !slices.Contains(families, f) {
			families = append(families, f)
		}
	}
	for _, p := range c.pairs {
		add(p.Family)
	}
	for _, ch := range c.loaded() {
		add(ch.family.Name)
	}
	out := slices.Clone(c.extra)
	for _, p := range profile.ProfilesOf(families) {
		if !slices.ContainsFunc(out, func(q profile.Profile) bool { return q.Name == p.Name }) {
			out = append(out, p)
		}
	}
	return out
}

// warnUnfit logs each profile served that no loaded chain suits, since
// those devices will fail the handshake or the trust check.
func (c *Certificates) warnUnfit(chains []chain) {
	for _, p := range c.Profiles() {
		var reasons []error
		for _, ch := range chains {
			errs := p.Check(ch.cert.Leaf, profile.Leaf)
			if len(errs) == 0 {
				reasons = nil
				break
			}
			reasons = append(reasons, errs...)
		}
		if len(reasons) > 0 {
			c.log.Warn("no server certificate suits this device profile", "profile", p.Name, "reasons", errors.Join(reasons...).Error())
		}
	}
}

// refresh reloads when the files changed (looked at once a second at most).
func (c *Certificates) refresh() {
	if c.watch.Changed(c.paths()...) {
		if err := c.Reload(); err != nil {
			c.watch.Retry()
			c.log.Error("server certificate changed on disk but cannot be loaded; still serving the previous one", "err", err)
		}
	}
}

// current returns the chains served now, in the order of the pairs, after
// a reload when the files changed. The caller must not change them: a
// reload replaces the slice, never its elements.
func (c *Certificates) current() []chain {
	c.refresh()
	return c.loaded()
}

// loaded is current without looking at the files.
func (c *Certificates) loaded() []chain {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.chains
}

// servedKey marks the context of a connection with the chain its
// handshake was given (see withServedCert).
type servedKey struct{}

type servedCert struct {
	chain atomic.Pointer[chain]
}

// withServedCert is http.Server.ConnContext: net/http hands the context to
// the handshake, where GetCertificate fills it in.
func withServedCert(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, servedKey{}, &servedCert{})
}

// handshakeChain is the chain the request's connection was handshaken
// with, nil outside withServedCert and after a resumed handshake.
func handshakeChain(ctx context.Context) *chain {
	if s, ok := ctx.Value(servedKey{}).(*servedCert); ok {
		return s.chain.Load()
	}
	return nil
}

// GetCertificate is tls.Config.GetCertificate: the chain choose picks for
// the hello, after a reload when the files changed (looked at once a second
// at most).
func (c *Certificates) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	ch := choose(hello, c.current())
	if ch == nil {
		return nil, errors.New("no server certificate loaded")
	}
	if s, ok := hello.Context().Value(servedKey{}).(*servedCert); ok {
		s.chain.Store(ch)
	}
	return ch.cert, nil
}

// TLSConfig returns the server configuration for the device profiles
// served, offering the union of what they need: TLS 1.2 and 1.3 with the
// forward-secret (ECDHE) suites always, and TLS 1.0 with a profile's RSA
// key-exchange suites only for a profile that needs TLS below 1.2 (Windows
// Mobile). The suites are listed even when they are Go's defaults, so that
// what is offered, and logged, does not change with GODEBUG: Go 1.26 honours
// an explicit MinVersion and explicit legacy suites (RC4, 3DES, RSA key
// exchange) without any GODEBUG setting, and tls10server, tlsrsakex and
// tls3des only change the defaults.
func TLSConfig(certs *Certificates, profiles []profile.Profile) *tls.Config {
	cfg := &tls.Config{
		GetCertificate: certs.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		// ActiveSync is HTTP/1.1; HTTP/2 would also refuse the legacy suites.
		NextProtos: []string{"http/1.1"},
	}
	for _, s := range tls.CipherSuites() {
		// crypto/tls names no key exchange but in the suite's name.
		if slices.Contains(s.SupportedVersions, tls.VersionTLS12) && strings.HasPrefix(s.Name, "TLS_ECDHE_") {
			cfg.CipherSuites = append(cfg.CipherSuites, s.ID)
		}
	}
	for _, p := range profiles {
		if p.MinTLS == 0 || p.MinTLS >= tls.VersionTLS12 {
			continue
		}
		cfg.MinVersion = min(cfg.MinVersion, p.MinTLS)
		for _, id := range p.Suites {
			if !slices.Contains(cfg.CipherSuites, id) {
				cfg.CipherSuites = append(cfg.CipherSuites, id)
			}
		}
	}
	return cfg
}

// logServing says once, at start, what the TLS listener offers and which
// chains it chooses from: the first thing to read when a device fails the
// handshake.
func logServing(log *slog.Logger, cfg *tls.Config, chains []chain) {
	suites := make([]string, 0, len(cfg.CipherSuites))
	for _, id := range cfg.CipherSuites {
		suites = append(suites, tls.CipherSuiteName(id))
	}
	for _, s := range tls.CipherSuites() {
		if slices.Equal(s.SupportedVersions, []uint16{tls.VersionTLS13}) {
			suites = append(suites, s.Name) // fixed by crypto/tls
		}
	}
	attrs := []any{
		"versions", tls.VersionName(cfg.MinVersion) + " to " + tls.VersionName(tls.VersionTLS13),
		"suites", strings.Join(suites, ","),
	}
	for i, ch := range chains {
		leaf := ch.cert.Leaf
		attrs = append(attrs, slog.Group(fmt.Sprintf("chain%d", i+1),
			"family", ch.family.Name, "subject", leaf.Subject.String(), "signature", leaf.SignatureAlgorithm.String(),
			"key", profile.KeyDesc(leaf.PublicKey), "not_after", leaf.NotAfter.UTC()))
	}
	log.Info("serving ActiveSync over TLS", attrs...)
}
