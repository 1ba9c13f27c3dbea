package verify

import (
	"bytes"
	"context"
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
	// Hello is what the emulated device offered: a server that picks its
	// chain per ClientHello answers this hello, not Go's usual one.
	Hello   string `json:"hello,omitempty"`
	Version string `json:"version,omitempty"`
	Suite   string `json:"suite,omitempty"`
	// Family is the chain family the server presented (profile.Families),
	// judged by the leaf's key type and signature; empty when the chain
	// matches none, as one from another CA may not.
	Family string     `json:"family,omitempty"`
	Chain  []CertInfo `json:"chain,omitempty"`
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
		SignatureAlgorithm: c.SignatureAlgorithm.String(), Key: profile.KeyDesc(c.PublicKey),
		NotAfter: c.NotAfter, DaysLeft: int(c.NotAfter.Sub(now).Hours() / 24),
		SHA256: fmt.Sprintf("%X", sum),
	}
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
// they would trust. Its hello is theirs as far as a server choosing a chain
// can tell: a TLS 1.0-only client (Windows Mobile) gets exactly the
// profile's RSA key-exchange suites and, since Go sends signature_algorithms
// only when it offers TLS 1.2, no signature_algorithms; the others offer
// TLS 1.2-1.3 with Go's default suites, ECDSA included. Go's own verifier refuses SHA-1 signatures, which
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
				return fmt.Errorf("%s devices would refuse this server's certificate: %w", p.Name, errors.Join(errs...))
			}
			return nil
		},
	}
}

// describeHello says what a client of cfg offers, for the report and the
// advice: the signals a server choosing a chain per hello reads.
func describeHello(cfg *tls.Config) string {
	versions := profile.TLSVersionName(cfg.MinVersion) + " to " + profile.TLSVersionName(cfg.MaxVersion)
	if cfg.MinVersion == cfg.MaxVersion {
		versions = profile.TLSVersionName(cfg.MinVersion) + " only"
	}
	suites := "Go's default suites (ECDHE with ECDSA or RSA)"
	if len(cfg.CipherSuites) > 0 {
		suites = suiteNames(cfg.CipherSuites)
	}
	// Mirrors crypto/tls: the extension goes with TLS 1.2 and later only.
	sigalgs := "signature_algorithms with Go's default schemes, ECDSA included"
	if cfg.MaxVersion < tls.VersionTLS12 {
		sigalgs = "no signature_algorithms extension"
	}
	return versions + "; " + suites + "; " + sigalgs
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
		v.add("connect", Fail, fmt.Sprintf("cannot connect to %s: %v", v.addr, err),
			"check the host name and port, that the server runs, and that no firewall blocks the port from here")
		return false
	}
	cfg := v.tlsConfig()
	conn := tls.Client(raw, cfg)
	herr := conn.HandshakeContext(ctx)
	conn.Close()
	cs, root, errs := v.seen.last()
	if cs == nil {
		v.add("tls", Fail, fmt.Sprintf("handshake failed: %v", herr), v.tlsAdvice(herr))
		return false
	}
	v.report.TLS = &TLSInfo{Hello: describeHello(cfg), Version: profile.TLSVersionName(cs.Version), Suite: tls.CipherSuiteName(cs.CipherSuite)}
	var family *profile.Family
	if f, ok := profile.FamilyOf(cs.PeerCertificates[0]); ok {
		family, v.report.TLS.Family = &f, f.Name
	}
	now := time.Now()
	for _, c := range cs.PeerCertificates {
		v.report.TLS.Chain = append(v.report.TLS.Chain, certInfo(c, now))
	}
	if root != nil {
		ri := certInfo(root, now)
		v.report.TLS.Root = &ri
	}
	if herr != nil && len(errs) == 0 {
		v.add("tls", Fail, fmt.Sprintf("handshake failed after the certificate was accepted: %v", herr), v.tlsAdvice(herr))
		return false
	}
	v.add("tls", Pass, fmt.Sprintf("%s with %s, answering the hello %s devices send", v.report.TLS.Version, v.report.TLS.Suite, v.opt.Profile.Name), "")
	return v.chainChecks(cs.PeerCertificates, family, root, errs)
}

// tlsAdvice says what to do about a failed handshake: a port that does not
// speak TLS, a server whose TLS library lacks every suite the devices
// offer, or one that does not accept their hello.
func (v *verifier) tlsAdvice(err error) string {
	p := v.opt.Profile
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		if bytes.HasPrefix(rh.RecordHeader[:], []byte("HTTP/")) {
			return fmt.Sprintf("%s answers plain HTTP, not TLS: give the HTTPS port in the URL (443, or the --https port of pushca serve), or put TLS in front of this one; devices speak ActiveSync over TLS only", v.addr)
		}
		return fmt.Sprintf("%s does not speak TLS: check the port; devices speak ActiveSync over TLS only", v.addr)
	}
	advice := fmt.Sprintf("%s devices offer %s, and need the %s chain (%s): the server must accept this hello and answer it with that chain; pushca serve does when its CA has the %s family",
		p.Name, describeHello(v.tlsConfig()), p.Family, familyDescription(p.Family), p.Family)
	if remoteAlert(err, "handshake failure") && legacyCiphersOnly(p.Suites) {
		// The server found no suite to share. Offering 3DES or RC4 is out
		// of reach of the usual servers, so the advice cannot stop at it.
		advice += ". If the server runs on OpenSSL 3 (nginx, Apache and HAProxy on current systems), it has neither 3DES nor RC4, so no setting of it serves these devices: put a TLS front that still has them before it (pushca serve, or a proxy on OpenSSL 1.1.1 with DES-CBC3-SHA in its cipher list)"
	}
	return advice
}

// remoteAlert says whether err is the server's TLS alert named name
// (crypto/tls keeps its alert type unexported, and names alerts as RFC
// 8446 does, "tls: handshake failure").
func remoteAlert(err error, name string) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error" && oe.Err != nil && oe.Err.Error() == "tls: "+name
}

// legacyCiphersOnly says whether suites are only 3DES and RC4 ones, which
// OpenSSL 3 does not have: Windows Mobile 5, which has no AES.
func legacyCiphersOnly(suites []uint16) bool {
	for _, s := range suites {
		if s != tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA && s != tls.TLS_RSA_WITH_RC4_128_SHA {
			return false
		}
	}
	return len(suites) > 0
}

func suiteNames(suites []uint16) string {
	names := make([]string, len(suites))
	for i, s := range suites {
		names[i] = tls.CipherSuiteName(s)
	}
	return strings.Join(names, ", ")
}

// familyDescription is the table's description of a family, or its bare
// name should the table not know it.
func familyDescription(name string) string {
	f, err := profile.GetFamily(name)
	if err != nil {
		return name
	}
	return f.Description
}

// chainChecks turns the profile's verdicts into one check per question a
// newcomer asks, each with what to do; family is the chain's (profile.FamilyOf).
func (v *verifier) chainChecks(chain []*x509.Certificate, family *profile.Family, root *x509.Certificate, errs []error) bool {
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
			v.add(name, Fail, strings.Join(msgs, "; "), do)
		} else {
			v.add(name, Pass, ok, "")
		}
	}
	rootName := "the system roots"
	if root != nil {
		rootName = fmt.Sprintf("%q (SHA-256 %X)", root.Subject.CommonName, sha256.Sum256(root.Raw))
	}
	if len(by[profile.ProblemMissingIntermediate]) > 0 && len(by[profile.ProblemUntrusted]) == 0 {
		// Without the intermediate the path cannot be built, so neither a
		// pass nor "another CA" would be true.
		v.add("chain to root", Fail, "cannot be built: the server does not send the intermediate between its certificate and the root (see intermediates)",
			"make the server send its intermediate; then run verify again to check the root")
	} else {
		judge("chain to root", profile.ProblemUntrusted, "the chain builds to "+rootName,
			fmt.Sprintf("the server's certificate was not issued under %s. Check that --root is the root installed on the devices (pushca keeps it in certs/root_ca.crt of the state directory); if it is, reissue the server certificate from that CA (pushca cert issue %s)", rootName, v.host))
	}
	judge("intermediates", profile.ProblemMissingIntermediate, fmt.Sprintf("the server sends %d certificate(s), its own and the intermediates", len(chain)),
		"make the server send its certificate followed by the intermediate: devices do not fetch missing intermediates. pushca serve sends servers/HOST/chain.pem; other servers: install the intermediate beside the certificate (IIS: Intermediate Certification Authorities store)")
	judge("host name", profile.ProblemHost, fmt.Sprintf("the server certificate names %s", v.host),
		fmt.Sprintf("issue a certificate that names %s exactly%s: pushca cert issue %s", v.host,
			map[bool]string{true: "", false: " (" + p.Name + " devices do not match wildcards)"}[p.Wildcards], v.host))
	var algs []string
	for _, c := range chain {
		algs = append(algs, c.SignatureAlgorithm.String()+" / "+profile.KeyDesc(c.PublicKey))
	}
	judge("device profile", profile.ProblemCertificate, fmt.Sprintf("%s devices accept %s the server presented to their hello (%s)", p.Name, presented(family), strings.Join(algs, ", ")),
		v.profileAdvice(family, root))
	v.validity(chain, by[profile.ProblemValidity])
	return len(errs) == 0
}

// presented names a chain by its family for the report.
func presented(f *profile.Family) string {
	if f == nil {
		return "a chain of no pushca family"
	}
	return "the " + f.Name + " chain"
}

// profileAdvice says what to do when the devices refuse a certificate of
// the chain family f (nil: of none) under root (nil: none found): a root
// they refuse needs a CA of their own, as no chain under it can serve
// them; a family they accept needs the certificate reissued within its
// rules; any other needs the profile's own family beside it, which a server
// choosing per hello then presents to these devices only.
func (v *verifier) profileAdvice(f *profile.Family, root *x509.Certificate) string {
	p := v.opt.Profile
	if root != nil {
		if errs := p.Check(root, profile.Root); len(errs) > 0 {
			return fmt.Sprintf("%s devices refuse the root itself (%v), so no chain under it serves them: they need a CA of their own whose root is installed on them (pushca init --profiles %s --dir OTHER)",
				p.Name, errors.Join(errs...), p.Name)
		}
	}
	if f != nil && p.Accepts(*f) {
		return fmt.Sprintf("%s devices accept the %s chain, but not this certificate of it: reissue it from pushca, which keeps every family's leaves within the rules of the devices it serves (pushca cert issue %s --family %s --force)",
			p.Name, f.Name, v.host, f.Name)
	}
	return fmt.Sprintf("the server presented %s to the hello %s devices send, and they need the %s chain (%s). Add the family under the same root and issue its certificate (pushca ca add-family %s; pushca cert issue %s --family %s): pushca serve then answers each hello with the chain that device needs. nginx and Apache choose between chains only by key type, so pair a legacy RSA chain with a modern ECDSA one there",
		presented(f), p.Name, p.Family, familyDescription(p.Family), p.Family, v.host, p.Family)
}

func (v *verifier) validity(chain []*x509.Certificate, problems []string) {
	do := fmt.Sprintf("renew the server certificate (pushca cert renew %s); devices keep the root, so nothing changes on them", v.host)
	if len(problems) > 0 {
		v.add("validity", Fail, strings.Join(problems, "; "), do)
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
		v.add("validity", Warn, detail, do)
		return
	}
	v.add("validity", Pass, detail, "")
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
