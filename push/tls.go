package push

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushca/pushca/profile"
)

// KeyPair names a PEM certificate chain (leaf first) and its PEM key.
type KeyPair struct{ Cert, Key string }

// Certificates serves one or more chains — typically an RSA and an ECDSA one
// side by side — and re-reads the files when they change, so a renewed
// certificate is used for new handshakes without a restart while
// established connections (held Pings) carry on.
type Certificates struct {
	pairs    []KeyPair
	profiles []profile.Profile
	watch    *fileWatch
	log      *slog.Logger

	mu    sync.RWMutex
	certs []*tls.Certificate
}

// LoadCertificates reads every pair whose files exist; at least one must.
// profiles are only used to warn about a chain those devices would reject.
func LoadCertificates(pairs []KeyPair, profiles []profile.Profile, log *slog.Logger) (*Certificates, error) {
	c := &Certificates{pairs: pairs, profiles: profiles, watch: newFileWatch(time.Second), log: log}
	c.watch.changed(c.paths()...) // record the stamps of what Reload reads now
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
	var certs []*tls.Certificate
	var errs []error
	for _, p := range c.pairs {
		p = resolvePair(p)
		cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil && cert.Leaf == nil {
			// Only when GODEBUG=x509keypairleaf=0 leaves it out.
			cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("load %s with %s: %w", p.Cert, p.Key, err))
			continue
		}
		certs = append(certs, &cert)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(certs) == 0 {
		return fmt.Errorf("no server certificate: none of %v exists (issue one with `pushca cert issue`)", c.paths())
	}
	// ECDSA first: a client that can use it gets it, the others fall
	// through to RSA in GetCertificate.
	slices.SortStableFunc(certs, func(a, b *tls.Certificate) int {
		return keyRank(a) - keyRank(b)
	})
	c.warnUnfit(certs)
	c.mu.Lock()
	c.certs = certs
	c.mu.Unlock()
	return nil
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
	return KeyPair{filepath.Join(real, filepath.Base(p.Cert)), filepath.Join(real, filepath.Base(p.Key))}
}

func keyRank(c *tls.Certificate) int {
	if _, ok := c.Leaf.PublicKey.(*ecdsa.PublicKey); ok {
		return 0
	}
	return 1
}

// warnUnfit logs each configured profile that no loaded chain suits, since
// those devices will fail the handshake or the trust check.
func (c *Certificates) warnUnfit(certs []*tls.Certificate) {
	for _, p := range c.profiles {
		var reasons []error
		for _, cert := range certs {
			errs := p.Check(cert.Leaf, profile.Leaf)
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
	if c.watch.changed(c.paths()...) {
		if err := c.Reload(); err != nil {
			c.watch.retry()
			c.log.Error("server certificate changed on disk but cannot be loaded; still serving the previous one", "err", err)
		}
	}
}

// Leaves returns the leaf certificates served now, ECDSA first.
func (c *Certificates) Leaves() []*x509.Certificate {
	c.refresh()
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*x509.Certificate, len(c.certs))
	for i, cert := range c.certs {
		out[i] = cert.Leaf
	}
	return out
}

// servedKey marks the context of a connection with the certificate its
// handshake was given (see withServedCert).
type servedKey struct{}

type servedCert struct {
	leaf atomic.Pointer[x509.Certificate]
}

// withServedCert is http.Server.ConnContext: net/http hands the context to
// the handshake, where GetCertificate fills it in.
func withServedCert(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, servedKey{}, &servedCert{})
}

// servedLeaf is the certificate the request's connection was handshaken
// with, nil outside withServedCert.
func servedLeaf(ctx context.Context) *x509.Certificate {
	if s, ok := ctx.Value(servedKey{}).(*servedCert); ok {
		return s.leaf.Load()
	}
	return nil
}

// GetCertificate is tls.Config.GetCertificate: the first chain the client
// supports, after a reload when the files changed (looked at once a second
// at most).
func (c *Certificates) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.refresh()
	c.mu.RLock()
	cert := c.certs[len(c.certs)-1] // when none fits, one the client can at least report
	for _, cc := range c.certs {
		if hello.SupportsCertificate(cc) == nil {
			cert = cc
			break
		}
	}
	c.mu.RUnlock()
	if s, ok := hello.Context().Value(servedKey{}).(*servedCert); ok {
		s.leaf.Store(cert.Leaf)
	}
	return cert, nil
}

// TLSConfig returns the server configuration for the device profiles
// served. Only a profile that needs TLS below 1.2 (Windows Mobile) brings
// TLS 1.0 and its RSA key-exchange suites; they are added to Go's default
// suites, never instead of them. Go 1.26 honours an explicit MinVersion and
// explicit legacy suites (RC4, 3DES, RSA key exchange) without any GODEBUG
// setting: tls10server, tlsrsakex and tls3des only change the defaults.
func TLSConfig(certs *Certificates, profiles []profile.Profile) *tls.Config {
	cfg := &tls.Config{
		GetCertificate: certs.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		// ActiveSync is HTTP/1.1; HTTP/2 would also refuse the legacy suites.
		NextProtos: []string{"http/1.1"},
	}
	var legacy []uint16
	for _, p := range profiles {
		if p.MinTLS != 0 && p.MinTLS < tls.VersionTLS12 {
			cfg.MinVersion = min(cfg.MinVersion, p.MinTLS)
			legacy = append(legacy, p.Suites...)
		}
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		for _, s := range tls.CipherSuites() {
			if slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
				cfg.CipherSuites = append(cfg.CipherSuites, s.ID)
			}
		}
		for _, id := range legacy {
			if !slices.Contains(cfg.CipherSuites, id) {
				cfg.CipherSuites = append(cfg.CipherSuites, id)
			}
		}
	}
	return cfg
}
