package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"text/template"
	"time"

	"github.com/smallstep/certificates/authority/provisioner"
	"go.step.sm/crypto/x509util"

	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/templates"
)

const (
	keyGenerated = "generated"
	keyFromCSR   = "csr"
)

// IssueRequest asks for a server certificate.
type IssueRequest struct {
	// Host is the exact name devices connect to: the CN and first SAN.
	Host string
	DNS  []string
	IPs  []net.IP
	// Profile of the devices that will connect; empty means the CA's.
	Profile string
	// Days of validity; zero means 397 (or the profile's cap if lower).
	Days int
	// CSR supplies the public key; pushca then never holds the private key.
	// The names still come from Host, DNS and IPs: the CA decides them.
	CSR *x509.CertificateRequest
	// Force replaces an active certificate for Host.
	Force bool
}

// Issued is the result of an issuance, renewal or rotation.
type Issued struct {
	Record Record
	Chain  []*x509.Certificate // leaf, intermediate
	// Files as the server should read them (through the "current" link).
	CertFile, ChainFile, KeyFile string
}

// Issue signs a new server certificate, self-checks the chain, writes the
// files and records it as the host's active certificate.
func (c *CA) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, err := c.leafProfile(req.Profile)
	if err != nil {
		return nil, err
	}
	host, err := normalizeName(req.Host, p)
	if err != nil {
		return nil, err
	}
	defer c.hosts.lock(host)()
	names, err := subjectNames(host, req.DNS, req.IPs, p)
	if err != nil {
		return nil, err
	}
	days := req.Days
	if days == 0 {
		days = int(profile.DefaultLeafLifetime.Hours() / 24)
		if p.MaxLeafDays > 0 && days > p.MaxLeafDays {
			days = p.MaxLeafDays
		}
	}
	if days, err = p.ValidityDays(days); err != nil {
		return nil, err
	}
	if end := time.Now().AddDate(0, 0, days); end.After(c.inter.NotAfter) {
		return nil, fmt.Errorf("a %d-day certificate would outlive the intermediate CA (expires %s); ask for fewer --days or rotate the intermediate", days, c.inter.NotAfter.Format("2006-01-02"))
	}
	prev, hasPrev, err := c.inv.active(host)
	if err != nil {
		return nil, err
	}
	if hasPrev && !req.Force {
		return nil, fmt.Errorf("%s already has an active certificate (serial %s, expires %s); use `pushca cert renew %s` or `rotate`, or --force to issue a new one",
			host, prev.Serial, prev.NotAfter.Format("2006-01-02"), host)
	}
	key, csr, source, err := c.keyAndCSR(p, host, names, req.CSR)
	if err != nil {
		return nil, err
	}
	cert, err := c.sign(ctx, csr, p, host, names, time.Duration(days)*24*time.Hour)
	if err != nil {
		return nil, err
	}
	var replaced *Record
	if hasPrev {
		replaced = &prev
	}
	return c.finish(ctx, host, p, cert, key, source, replaced)
}

// leafProfile resolves a leaf's profile and refuses one whose devices would
// reject this CA's chain: the chain is the CA's, whatever the leaf.
func (c *CA) leafProfile(name string) (profile.Profile, error) {
	if name == "" {
		return c.profile, nil
	}
	p, err := profile.Get(name)
	if err != nil {
		return p, err
	}
	errs := append(p.Check(c.root, profile.Root), p.Check(c.inter, profile.Intermediate)...)
	if len(errs) > 0 {
		return p, fmt.Errorf("profile %s cannot use this CA (issued for %s): %w; create a CA for it with `pushca init --profile %s --dir OTHER`",
			p.Name, c.profile.Name, errors.Join(errs...), p.Name)
	}
	return p, nil
}

// keyAndCSR generates a key of the profile's type, or checks the key of a
// supplied CSR against the profile. The CSR's signature is checked by
// step-ca when it signs (see sign).
func (c *CA) keyAndCSR(p profile.Profile, host string, names []string, csr *x509.CertificateRequest) (crypto.Signer, *x509.CertificateRequest, string, error) {
	if csr != nil {
		if err := p.CheckKey(csr.PublicKey); err != nil {
			return nil, nil, "", fmt.Errorf("CSR key: %w", err)
		}
		return nil, csr, keyFromCSR, nil
	}
	key, err := generateKey(p)
	if err != nil {
		return nil, nil, "", err
	}
	csr, err = x509util.CreateCertificateRequest(host, names, key)
	if err != nil {
		return nil, nil, "", fmt.Errorf("certificate request for %s: %w", host, err)
	}
	return key, csr, keyGenerated, nil
}

// sign runs smallstep's authority with pushca's template and two checks of
// its own: validity, and the profile's rules on the unsigned certificate, so
// that a certificate the devices would reject is never signed.
func (c *CA) sign(ctx context.Context, csr *x509.CertificateRequest, p profile.Profile, host string, names []string, lifetime time.Duration) (*x509.Certificate, error) {
	data := x509util.CreateTemplateData(host, names)
	data.SetUserData(map[string]any{
		"signatureAlgorithm": sigAlgName(p.SignatureFor(keyType(c.signer.Public()))),
		"crlURL":             c.state.CRLURL,
	})
	now := time.Now().Truncate(time.Second)
	chain, err := c.auth.SignWithContext(ctx, csr, provisioner.SignOptions{},
		templateOption{tpl: c.leafTemplate, data: data},
		validityModifier{notBefore: now.Add(-time.Minute), notAfter: now.Add(lifetime)},
		profileValidator{p},
	)
	if err != nil {
		// step-ca verified the CSR's signature first; checking it here too,
		// on every issuance, cost a public-key operation. Only a failure
		// pays for telling the operator which check it was.
		if csr.CheckSignature() != nil {
			return nil, fmt.Errorf("issue certificate for %s: CSR signature does not verify: %w", host, err)
		}
		return nil, fmt.Errorf("issue certificate for %s: %w", host, err)
	}
	return chain[0], nil
}

// finish is shared by issue, renew and rotate: self-check, record as
// pending (with step-ca's record of the certificate, in one transaction),
// write the files, switch the host's link, record as active. Each
// step is durable before the next, so a crash anywhere is repaired by the
// next Open (see repair).
func (c *CA) finish(ctx context.Context, host string, p profile.Profile, cert *x509.Certificate, key crypto.Signer, source string, prev *Record) (*Issued, error) {
	chain := []*x509.Certificate{cert, c.inter}
	if errs := p.VerifyChain(chain, c.root, host, time.Now()); len(errs) > 0 {
		err := errors.Join(errs...)
		c.revokeSerial(ctx, cert, "self-check failed", 0)
		return nil, fmt.Errorf("self-check of the certificate for %s failed, so it was revoked: %w", host, err)
	}
	if err := c.fail("signed"); err != nil {
		return nil, err
	}
	rec := newRecord(cert, host, p.Name, source, StatePending)
	if prev != nil {
		rec.Replaces = prev.Serial
	}
	// With step-ca's own record of the certificate (see stepDB).
	if err := c.inv.putWith(c.step.take(rec.Serial), rec); err != nil {
		return nil, err
	}
	if err := c.fail("recorded"); err != nil {
		return nil, err
	}
	if err := c.writeVersion(host, cert, key); err != nil {
		return nil, err
	}
	if err := c.fail("files-written"); err != nil {
		return nil, err
	}
	if err := c.activate(rec); err != nil {
		return nil, err
	}
	rec.State = StateActive
	is := &Issued{Record: rec, Chain: chain, CertFile: c.layout.ServerCert(host), ChainFile: c.layout.ServerChain(host)}
	if key != nil {
		is.KeyFile = c.layout.ServerKey(host)
	}
	return is, nil
}

// activate makes a complete pending record the host's current certificate
// and supersedes the previous active one, in one transaction.
func (c *CA) activate(rec Record) error {
	if err := c.switchCurrent(rec.Host, rec.Serial); err != nil {
		return err
	}
	recs := []Record{}
	if prev, ok, err := c.inv.active(rec.Host); err != nil {
		return err
	} else if ok && prev.Serial != rec.Serial {
		prev.State = StateSuperseded
		recs = append(recs, prev)
	}
	rec.State = StateActive
	return c.inv.put(append(recs, rec)...)
}

// Renew issues a new certificate for host with the same key, names and
// profile; the old one stays valid until it expires.
func (c *CA) Renew(ctx context.Context, host string) (*Issued, error) {
	return c.reissue(ctx, host, false, nil)
}

// Rotate issues a new certificate for host with a new key (or the key of
// csr, for certificates whose keys pushca does not hold).
func (c *CA) Rotate(ctx context.Context, host string, csr *x509.CertificateRequest) (*Issued, error) {
	return c.reissue(ctx, host, true, csr)
}

func (c *CA) reissue(ctx context.Context, host string, newKey bool, csr *x509.CertificateRequest) (*Issued, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	defer c.hosts.lock(host)()
	prev, ok, err := c.inv.active(host)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s has no active certificate; issue one with `pushca cert issue %s`", host, host)
	}
	p, err := c.leafProfile(prev.Profile)
	if err != nil {
		return nil, err
	}
	old, err := prev.Certificate()
	if err != nil {
		return nil, err
	}
	if old.NotAfter.Sub(old.NotBefore) > time.Until(c.inter.NotAfter) {
		return nil, fmt.Errorf("a renewal of %s would outlive the intermediate CA (expires %s); rotate the intermediate first", host, c.inter.NotAfter.Format("2006-01-02"))
	}
	source := prev.KeySource
	var key crypto.Signer
	var chain []*x509.Certificate
	switch {
	case !newKey:
		if source == keyGenerated {
			if key, err = readPlainKey(c.layout.ServerKey(host)); err != nil {
				return nil, err
			}
		}
		chain, err = c.auth.RenewContext(ctx, old, nil)
	case csr != nil:
		if err := csr.CheckSignature(); err != nil {
			return nil, fmt.Errorf("CSR signature does not verify: %w", err)
		}
		if err := p.CheckKey(csr.PublicKey); err != nil {
			return nil, fmt.Errorf("CSR key: %w", err)
		}
		source = keyFromCSR
		chain, err = c.auth.RenewContext(ctx, old, csr.PublicKey)
	case source == keyFromCSR:
		return nil, fmt.Errorf("the key of %s came from a CSR, so pushca cannot make a new one; pass --csr with a new request", host)
	default:
		if key, err = generateKey(p); err != nil {
			return nil, err
		}
		chain, err = c.auth.RenewContext(ctx, old, key.Public())
	}
	if err != nil {
		return nil, fmt.Errorf("renew %s (serial %s): %w", host, prev.Serial, err)
	}
	if errs := p.Check(chain[0], profile.Leaf); len(errs) > 0 {
		c.revokeSerial(ctx, chain[0], "profile check failed", 0)
		return nil, fmt.Errorf("renewed certificate for %s breaks profile %s and was revoked: %w", host, p.Name, errors.Join(errs...))
	}
	return c.finish(ctx, host, p, chain[0], key, source, &prev)
}

// removeVersion deletes a version directory that never became current.
func (c *CA) removeVersion(r Record) error {
	return os.RemoveAll(c.layout.ServerVersion(r.Host, r.Serial))
}

// parseLeafTemplate parses the leaf template once per CA: x509util's
// WithTemplate builds sprig's function map and parses the text on every
// call, which cost as much as a tenth of an issuance.
func parseLeafTemplate() (*template.Template, error) {
	const name = "x509/leaf.tpl"
	text, err := templates.Read(name)
	if err != nil {
		return nil, err
	}
	// The function map's "fail" writes to a message shared by every
	// execution; the leaf template never calls it, so concurrent issuances
	// share one parsed template safely (Execute itself is safe).
	t, err := template.New(name).Funcs(x509util.GetFuncMap()).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return t, nil
}

// templateOption executes the parsed leaf template the way
// x509util.WithTemplate executes its text.
type templateOption struct {
	tpl  *template.Template
	data x509util.TemplateData
}

func (t templateOption) Options(provisioner.SignOptions) []x509util.Option {
	return []x509util.Option{func(cr *x509.CertificateRequest, o *x509util.Options) error {
		buf := new(bytes.Buffer)
		t.data.SetCertificateRequest(cr)
		if err := t.tpl.Execute(buf, t.data); err != nil {
			return fmt.Errorf("execute template %s: %w", t.tpl.Name(), err)
		}
		o.CertBuffer = buf
		return nil
	}}
}

type validityModifier struct{ notBefore, notAfter time.Time }

func (v validityModifier) Modify(cert *x509.Certificate, _ provisioner.SignOptions) error {
	cert.NotBefore, cert.NotAfter = v.notBefore, v.notAfter
	return nil
}

type profileValidator struct{ p profile.Profile }

func (v profileValidator) Valid(cert *x509.Certificate, _ provisioner.SignOptions) error {
	return errors.Join(v.p.Check(cert, profile.Leaf)...)
}
