package verify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pushca/pushca/profile"
)

// expiryWarning is how close to its end a certificate gets a warning.
const expiryWarning = 30 * 24 * time.Hour

// TLSInfo is what the handshake negotiated and what the server sent.
type TLSInfo struct {
	Version string     `json:"version,omitempty"`
	Suite   string     `json:"suite,omitempty"`
	Chain   []CertInfo `json:"chain,omitempty"`
	// Root is the root the chain was checked against.
	Root *CertInfo `json:"root,omitempty"`
}

// CertInfo describes one certificate for the report.
type CertInfo struct {
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	Key                string    `json:"key"`
	NotAfter           time.Time `json:"not_after"`
	DaysLeft           int       `json:"days_left"`
	SHA256             string    `json:"sha256"`
}

func (c CertInfo) String() string {
	return fmt.Sprintf("%s  (issuer %s)  %s, %s, expires %s (%d days left)",
		c.Subject, c.Issuer, c.SignatureAlgorithm, c.Key, c.NotAfter.UTC().Format("2006-01-02"), c.DaysLeft)
}

func certInfo(c *x509.Certificate, now time.Time) CertInfo {
	sum := sha256.Sum256(c.Raw)
	return CertInfo{
		Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		SignatureAlgorithm: c.SignatureAlgorithm.String(), Key: keyDesc(c.PublicKey),
		NotAfter: c.NotAfter, DaysLeft: int(c.NotAfter.Sub(now).Hours() / 24),
		SHA256: fmt.Sprintf("%X", sum),
	}
}

func keyDesc(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", pub)
}

// handshake is what VerifyConnection saw; it runs on every handshake the
// verifier's connections make, so the latest one is kept.
type handshake struct {
	mu    sync.Mutex
	state *tls.ConnectionState
	root  *x509.Certificate
	errs  []error
}

func (h *handshake) record(cs tls.ConnectionState, root *x509.Certificate, errs []error) {
	h.mu.Lock()
	h.state, h.root, h.errs = &cs, root, errs
	h.mu.Unlock()
}

func (h *handshake) last() (*tls.ConnectionState, *x509.Certificate, []error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state, h.root, h.errs
}

// tlsConfig speaks only what the profile's devices speak and trusts what
// they would trust. Go's own verifier refuses SHA-1 signatures, which
// Windows Mobile chains need, so it is switched off and VerifyConnection
// runs the profile's checks instead, failing the handshake on any problem:
// no connection made from this configuration carries a request to a server
// the device would refuse.
func (v *verifier) tlsConfig() *tls.Config {
	p := v.opt.Profile
	return &tls.Config{
		ServerName: v.host,
		MinVersion: p.MinTLS,
		MaxVersion: p.MaxTLS,
		// Explicit legacy suites (RSA key exchange, 3DES, RC4) are honoured
		// by Go's client without GODEBUG; only the defaults exclude them.
		CipherSuites:       p.Suites,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			root, errs := v.checkChain(cs.PeerCertificates)
			v.seen.record(cs, root, errs)
			if len(errs) > 0 {
				return fmt.Errorf("a %s device would refuse this server's certificate: %w", p.Name, errors.Join(errs...))
			}
			return nil
		},
	}
}

// checkChain returns the root the chain was checked against (nil if none
// fits) and the profile's verdicts.
func (v *verifier) checkChain(chain []*x509.Certificate) (*x509.Certificate, []error) {
	now := time.Now()
	if len(v.opt.Roots) > 0 {
		root := pickRoot(v.opt.Roots, chain)
		return root, v.opt.Profile.VerifyChain(chain, root, v.host, now)
	}
	// System roots: crypto/x509 finds the path; the profile then judges it.
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := chain[0].Verify(x509.VerifyOptions{Intermediates: inter, CurrentTime: now})
	if err == nil {
		path := chains[0]
		root := path[len(path)-1]
		return root, v.opt.Profile.VerifyChain(chain, root, v.host, now)
	}
	errs := v.opt.Profile.VerifyChain(chain, nil, v.host, now)
	for i, e := range errs {
		var ce *profile.ChainError
		if errors.As(e, &ce) && ce.Problem == profile.ProblemUntrusted {
			errs[i] = &profile.ChainError{Problem: profile.ProblemUntrusted, Err: fmt.Errorf("no system root accepts the chain: %w", err)}
		}
	}
	return nil, errs
}

// pickRoot chooses among the given roots the one that issued the top of
// the chain, so a file holding several roots works; with none fitting, the
// first is returned and VerifyChain says why it does not fit.
func pickRoot(roots, chain []*x509.Certificate) *x509.Certificate {
	top := chain[len(chain)-1]
	for _, r := range roots {
		if bytes.Equal(top.Raw, r.Raw) && len(chain) > 1 {
			top = chain[len(chain)-2]
			break
		}
	}
	for _, r := range roots {
		if bytes.Equal(top.RawIssuer, r.RawSubject) && profile.CheckSignedBy(top, r) == nil {
			return r
		}
	}
	return roots[0]
}

// probeTLS makes one handshake and reports on it.
func (v *verifier) probeTLS(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	raw, err := v.dial(ctx, "tcp", v.addr)
	if err != nil {
		v.report.add("connect", Fail, fmt.Sprintf("cannot connect to %s: %v", v.addr, err),
			"check the host name and port, that the server runs, and that no firewall blocks the port from here")
		return false
	}
	conn := tls.Client(raw, v.tlsConfig())
	herr := conn.HandshakeContext(ctx)
	conn.Close()
	cs, root, errs := v.seen.last()
	if cs == nil {
		v.report.add("tls", Fail, fmt.Sprintf("handshake failed: %v", herr), v.tlsAdvice())
		return false
	}
	v.report.TLS = &TLSInfo{Version: profile.TLSVersionName(cs.Version), Suite: tls.CipherSuiteName(cs.CipherSuite)}
	now := time.Now()
	for _, c := range cs.PeerCertificates {
		v.report.TLS.Chain = append(v.report.TLS.Chain, certInfo(c, now))
	}
	if root != nil {
		ri := certInfo(root, now)
		v.report.TLS.Root = &ri
	}
	if herr != nil && len(errs) == 0 {
		v.report.add("tls", Fail, fmt.Sprintf("handshake failed after the certificate was accepted: %v", herr), v.tlsAdvice())
		return false
	}
	v.report.add("tls", Pass, fmt.Sprintf("%s with %s, as %s devices speak", v.report.TLS.Version, v.report.TLS.Suite, v.opt.Profile.Name), "")
	return v.chainChecks(cs.PeerCertificates, root, errs)
}

func (v *verifier) tlsAdvice() string {
	p := v.opt.Profile
	var names []string
	for _, s := range p.Suites {
		names = append(names, tls.CipherSuiteName(s))
	}
	suites := "Go's default suites"
	if len(names) > 0 {
		suites = strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s devices speak %s to %s with %s: enable these on the server (pushca serve --profile %s does)",
		p.Name, profile.TLSVersionName(p.MinTLS), profile.TLSVersionName(p.MaxTLS), suites, p.Name)
}

// chainChecks turns the profile's verdicts into one check per question a
// newcomer asks, each with what to do.
func (v *verifier) chainChecks(chain []*x509.Certificate, root *x509.Certificate, errs []error) bool {
	p := v.opt.Profile
	by := map[profile.Problem][]string{}
	for _, e := range errs {
		kind := profile.ProblemUntrusted
		var ce *profile.ChainError
		if errors.As(e, &ce) {
			kind = ce.Problem
		}
		by[kind] = append(by[kind], e.Error())
	}
	judge := func(name string, kind profile.Problem, ok, do string) {
		if msgs := by[kind]; len(msgs) > 0 {
			v.report.add(name, Fail, strings.Join(msgs, "; "), do)
		} else {
			v.report.add(name, Pass, ok, "")
		}
	}
	rootName := "the system roots"
	if root != nil {
		rootName = fmt.Sprintf("%q (SHA-256 %X)", root.Subject.CommonName, sha256.Sum256(root.Raw))
	}
	judge("chain to root", profile.ProblemUntrusted, "the chain builds to "+rootName,
		fmt.Sprintf("the server's certificate was not issued under %s. Check that --root is the root installed on the devices (pushca keeps it in certs/root_ca.crt of the state directory); if it is, reissue the server certificate from that CA (pushca cert issue --host %s)", rootName, v.host))
	judge("intermediates", profile.ProblemMissingIntermediate, fmt.Sprintf("the server sends %d certificate(s), its own and the intermediates", len(chain)),
		"make the server send its certificate followed by the intermediate: devices do not fetch missing intermediates. pushca serve sends servers/HOST/chain.pem; other servers: install the intermediate beside the certificate (IIS: Intermediate Certification Authorities store)")
	judge("host name", profile.ProblemHost, fmt.Sprintf("the server certificate names %s", v.host),
		fmt.Sprintf("issue a certificate that names %s exactly%s: pushca cert issue --host %s", v.host,
			map[bool]string{true: "", false: " (" + p.Name + " devices do not match wildcards)"}[p.Wildcards], v.host))
	var algs []string
	for _, c := range chain {
		algs = append(algs, c.SignatureAlgorithm.String()+" / "+keyDesc(c.PublicKey))
	}
	judge("device profile", profile.ProblemCertificate, fmt.Sprintf("%s devices accept every certificate sent (%s)", p.Name, strings.Join(algs, ", ")),
		fmt.Sprintf("%s devices need %s: create the CA and issue the server certificate under that profile (pushca init --profile %s; pushca cert issue --profile %s)", p.Name, p.Description, p.Name, p.Name))
	v.validity(chain, by[profile.ProblemValidity])
	return len(errs) == 0
}

func (v *verifier) validity(chain []*x509.Certificate, problems []string) {
	do := fmt.Sprintf("renew the server certificate (pushca cert renew %s); devices keep the root, so nothing changes on them", v.host)
	if len(problems) > 0 {
		v.report.add("validity", Fail, strings.Join(problems, "; "), do)
		return
	}
	now := time.Now()
	soonest := chain[0]
	for _, c := range chain {
		if c.NotAfter.Before(soonest.NotAfter) {
			soonest = c
		}
	}
	left := soonest.NotAfter.Sub(now)
	detail := fmt.Sprintf("%q expires first, on %s (%d days left)", soonest.Subject.CommonName, soonest.NotAfter.UTC().Format("2006-01-02"), int(left.Hours()/24))
	if left < expiryWarning {
		v.report.add("validity", Warn, detail, do)
		return
	}
	v.report.add("validity", Pass, detail, "")
}

// dial connects to addr, or to the Connect address when one is given, so a
// server can be checked under its real name before DNS points at it.
func (v *verifier) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if v.opt.Connect != "" {
		addr = v.opt.Connect
	}
	d := net.Dialer{Timeout: dialTimeout}
	return d.DialContext(ctx, network, addr)
}
