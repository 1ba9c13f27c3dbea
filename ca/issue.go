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
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/nosql/database"
	"go.step.sm/crypto/x509util"

	"github.com/pushca/pushca/internal/atomicfile"
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
	// Families limits the issuance to these chain families; empty means
	// every family of the CA: one leaf each, same names, each family's own
	// key type, signature and validity cap.
	Families []string
	// Profile, when set, limits the issuance to the family the CA serves
	// devices of that profile with.
	Profile string
	// Days of validity; zero means 397 (or the family's cap if lower).
	Days int
	// CSR supplies the public key; pushca then never holds the private key.
	// The names still come from Host, DNS and IPs: the CA decides them. A
	// CSR carries one key, so it needs a CA of one family or one named.
	CSR *x509.CertificateRequest
	// Force replaces an active certificate for Host.
	Force bool
}

// Issued is the result of an issuance, renewal or rotation in one family.
type Issued struct {
	Record Record
	Chain  []*x509.Certificate // leaf, intermediate
	// Files as the server should read them (through the "current" link).
	CertFile, ChainFile, KeyFile string
}

// rules are the device profiles a leaf of one family must satisfy all at
// once: every profile the family serves.
type rules []profile.Profile

func rulesOf(f profile.Family) rules { return profile.ProfilesServedBy(f) }

func (r rules) checkName(name string) error {
	for _, p := range r {
		if err := p.CheckName(name); err != nil {
			return err
		}
	}
	return nil
}

func (r rules) checkKey(pub any) error {
	for _, p := range r {
		if err := p.CheckKey(pub); err != nil {
			return err
		}
	}
	return nil
}

func (r rules) check(cert *x509.Certificate, role profile.Role) []error {
	var errs []error
	for _, p := range r {
		errs = append(errs, p.Check(cert, role)...)
	}
	return errs
}

// days resolves a requested leaf lifetime (0: the default) against the
// family's cap and every profile's.
func (r rules) days(f profile.Family, days int) (int, error) {
	if days == 0 {
		days = int(profile.DefaultLeafLifetime.Hours() / 24)
		for _, p := range r {
			if p.MaxLeafDays > 0 {
				days = min(days, p.MaxLeafDays)
			}
		}
		if f.MaxLeafDays > 0 {
			days = min(days, f.MaxLeafDays)
		}
	}
	if f.MaxLeafDays > 0 && days > f.MaxLeafDays {
		return 0, fmt.Errorf("chain family %s: leaves are valid for at most %d days (asked %d)", f.Name, f.MaxLeafDays, days)
	}
	for _, p := range r {
		if _, err := p.ValidityDays(days); err != nil {
			return 0, err
		}
	}
	return days, nil
}

// issuersFor resolves the families a request names (all of the CA's when
// none) to their issuers, in the CA's order. The caller holds c.mu.
func (c *CA) issuersFor(families []string, prof string) ([]*issuer, error) {
	if prof != "" {
		p, err := profile.Get(prof)
		if err != nil {
			return nil, err
		}
		f, ok := profile.FamilyFor(p, c.state.Families)
		if !ok {
			return nil, fmt.Errorf("profile %s: this CA has no chain family its devices accept (it has %s); add one with `pushca ca add-family %s`",
				p.Name, strings.Join(c.state.Families, ", "), p.Family)
		}
		families = append(families, f.Name)
	}
	if len(families) == 0 {
		return slices.Clone(c.issuers), nil
	}
	var out []*issuer
	for _, n := range families {
		if _, err := profile.GetFamily(n); err != nil {
			return nil, err
		}
		is := c.issuer(n)
		if is == nil {
			return nil, fmt.Errorf("this CA has no %s chain family (it has %s); add it with `pushca ca add-family %s`", n, strings.Join(c.state.Families, ", "), n)
		}
		if !slices.Contains(out, is) {
			out = append(out, is)
		}
	}
	return out, nil
}

// Issue signs a new server certificate for every family the request names,
// self-checks each chain, writes the files and records each as the host's
// active certificate of its family. Every family is checked before any is
// signed, so a refusal leaves nothing behind.
func (c *CA) Issue(ctx context.Context, req IssueRequest) ([]*Issued, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	targets, err := c.issuersFor(req.Families, req.Profile)
	if err != nil {
		return nil, err
	}
	if req.CSR != nil && len(targets) > 1 {
		return nil, fmt.Errorf("a CSR carries one key, and this CA has %d chain families; name one with --family", len(targets))
	}
	host, err := normalizeName(req.Host)
	if err != nil {
		return nil, err
	}
	unlock, err := c.locks.host(ctx, host)
	if err != nil {
		return nil, err
	}
	defer unlock()
	type plan struct {
		is    *issuer
		rules rules
		names []string
		days  int
		prev  *Record
	}
	plans := make([]plan, 0, len(targets))
	for _, is := range targets {
		pl := plan{is: is, rules: rulesOf(is.family)}
		if pl.names, err = subjectNames(host, req.DNS, req.IPs, pl.rules); err != nil {
			return nil, err
		}
		if pl.days, err = pl.rules.days(is.family, req.Days); err != nil {
			return nil, err
		}
		if end := time.Now().AddDate(0, 0, pl.days); end.After(is.inter.NotAfter) {
			return nil, fmt.Errorf("a %d-day certificate would outlive the intermediate CA (%s family, expires %s); ask for fewer --days or rotate the intermediate", pl.days, is.family.Name, is.inter.NotAfter.Format("2006-01-02"))
		}
		prev, hasPrev, err := c.inv.active(host, is.slot)
		if err != nil {
			return nil, err
		}
		if hasPrev {
			if !req.Force {
				return nil, fmt.Errorf("%s already has an active certificate (%s family, serial %s, expires %s); use `pushca cert renew %s` or `rotate`, or --force to issue a new one",
					host, is.family.Name, prev.Serial, prev.NotAfter.Format("2006-01-02"), host)
			}
			pl.prev = &prev
		}
		plans = append(plans, pl)
	}
	out := make([]*Issued, 0, len(plans))
	for _, pl := range plans {
		key, csr, source, err := c.keyAndCSR(pl.is.family, pl.rules, host, pl.names, req.CSR)
		if err != nil {
			return out, err
		}
		cert, err := c.sign(ctx, pl.is, csr, pl.rules, host, pl.names, time.Duration(pl.days)*24*time.Hour)
		if err != nil {
			return out, err
		}
		is, err := c.finish(ctx, pl.is, host, pl.rules, cert, key, source, pl.prev)
		if err != nil {
			return out, err
		}
		out = append(out, is)
	}
	return out, nil
}

// keyAndCSR generates a key of the family's type, or checks the key of a
// supplied CSR against the family's devices. The CSR's signature is checked
// by step-ca when it signs (see sign).
func (c *CA) keyAndCSR(f profile.Family, r rules, host string, names []string, csr *x509.CertificateRequest) (crypto.Signer, *x509.CertificateRequest, string, error) {
	if csr != nil {
		if err := r.checkKey(csr.PublicKey); err != nil {
			return nil, nil, "", fmt.Errorf("CSR key: %w", err)
		}
		return nil, csr, keyFromCSR, nil
	}
	key, err := generateKey(f)
	if err != nil {
		return nil, nil, "", err
	}
	csr, err = x509util.CreateCertificateRequest(host, names, key)
	if err != nil {
		return nil, nil, "", fmt.Errorf("certificate request for %s: %w", host, err)
	}
	return key, csr, keyGenerated, nil
}

// sign runs smallstep's authority of the family with pushca's template and
// two checks of its own: validity, and the family's rules on the unsigned
// certificate, so that a certificate the devices would reject is never
// signed. The validity, backdate included, is one second short of the
// lifetime: Apple counts its 825 days as NotAfter - NotBefore, and RFC 5280
// counts both ends in, so an exact span would be a second too long there.
func (c *CA) sign(ctx context.Context, is *issuer, csr *x509.CertificateRequest, r rules, host string, names []string, lifetime time.Duration) (*x509.Certificate, error) {
	data := x509util.CreateTemplateData(host, names)
	for k, v := range leafData(is.family, r, crlURLFor(c.state.CRLURL, is.slot)) {
		data[k] = v
	}
	notBefore := time.Now().Truncate(time.Second).Add(-time.Minute)
	chain, err := is.auth.SignWithContext(ctx, csr, provisioner.SignOptions{},
		templateOption{tpl: c.leafTemplate, data: data},
		validityModifier{notBefore: notBefore, notAfter: notBefore.Add(lifetime - time.Second)},
		profileValidator{r},
	)
	if err != nil {
		// step-ca verified the CSR's signature first; checking it here too,
		// on every issuance, cost a public-key operation. Only a failure
		// pays for telling the operator which check it was.
		if csr.CheckSignature() != nil {
			return nil, fmt.Errorf("issue certificate for %s: CSR signature does not verify: %w", host, err)
		}
		return nil, fmt.Errorf("issue %s certificate for %s: %w", is.family.Name, host, err)
	}
	return chain[0], nil
}

// finish is shared by issue, renew and rotate: self-check, write the
// files, record the certificate as active, with step-ca's record of it and
// the previous one superseded, in one transaction, and switch the host's
// link. Each step is durable before the next. Until that commit the
// certificate exists only in its version directory, where the next Open
// finds it (see Repair): complete, it finishes the issuance; incomplete,
// it revokes the certificate. After it, repair points the link at the
// active record. One commit, not a pending record before the files and
// the active one after them, saves a commit per issuance; a link never
// points at a certificate no record names (see checkInventory).
func (c *CA) finish(ctx context.Context, is *issuer, host string, r rules, cert *x509.Certificate, key crypto.Signer, source string, prev *Record) (*Issued, error) {
	chain := []*x509.Certificate{cert, is.inter}
	// The signatures are the same for every profile: verify the chain once
	// and check the certificates against the others.
	errs := r[0].VerifyChain(chain, c.root, host, time.Now())
	for _, p := range r[1:] {
		errs = append(errs, p.Check(cert, profile.Leaf)...)
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		c.revokeSerial(ctx, is, cert, "self-check failed", 0)
		return nil, fmt.Errorf("self-check of the %s certificate for %s failed, so it was revoked: %w", is.family.Name, host, err)
	}
	// Taken now so that no error path below leaves it held: it is
	// committed with the record or not at all (a crash loses it too), and
	// repair writes it again for a certificate it finds only on disk.
	stepTx := c.step.take(cert.SerialNumber.String())
	if err := c.fail("signed"); err != nil {
		return nil, err
	}
	if err := c.writeVersion(host, cert, key, is.inter); err != nil {
		return nil, err
	}
	if err := c.fail("files-written"); err != nil {
		return nil, err
	}
	rec := newRecord(cert, host, is.family.Name, source, StateActive)
	if c.state.DB != "" {
		rec.Files = c.layout.owner()
	}
	if prev != nil {
		rec.Replaces = prev.Serial
	}
	if err := c.activate(stepTx, rec, is.slot, prev); err != nil {
		return nil, err
	}
	out := &Issued{Record: rec, Chain: chain, CertFile: c.layout.ServerCert(host, is.slot), ChainFile: c.layout.ServerChain(host, is.slot)}
	if key != nil {
		out.KeyFile = c.layout.ServerKey(host, is.slot)
	}
	return out, nil
}

// activate makes the certificate of a complete version directory the
// current one of its host and family: in one transaction after tx's
// writes, rec as active and prev (the active record the caller read under
// the host's lock, nil when none) as superseded; then the link.
func (c *CA) activate(tx *database.Tx, rec Record, s Slot, prev *Record) error {
	// The version directory's name, before a record points at it.
	if err := atomicfile.SyncDir(c.layout.ServerDir(rec.Host)); err != nil {
		return err
	}
	recs := []Record{}
	if prev != nil && prev.Serial != rec.Serial {
		old := *prev
		old.State = StateSuperseded
		recs = append(recs, old)
	}
	// Between the read and the write: what the host's lock must cover.
	if err := c.fail("superseding"); err != nil {
		return err
	}
	rec.State = StateActive
	if err := c.inv.putWith(tx, append(recs, rec)...); err != nil {
		return err
	}
	if err := c.fail("active"); err != nil {
		return err
	}
	return c.switchCurrent(rec.Host, s, rec.Serial)
}

// Renew issues a new certificate for host with the same key, names and
// family, in each family named (every family of the CA where host has an
// active certificate when none is named); the old ones stay valid until
// they expire.
func (c *CA) Renew(ctx context.Context, host string, families ...string) ([]*Issued, error) {
	return c.reissue(ctx, host, families, false, nil)
}

// Rotate issues a new certificate for host with a new key (or the key of
// csr, for certificates whose keys pushca does not hold) in each family
// named, as Renew chooses them.
func (c *CA) Rotate(ctx context.Context, host string, csr *x509.CertificateRequest, families ...string) ([]*Issued, error) {
	return c.reissue(ctx, host, families, true, csr)
}

func (c *CA) reissue(ctx context.Context, host string, families []string, newKey bool, csr *x509.CertificateRequest) ([]*Issued, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	targets, err := c.issuersFor(families, "")
	if err != nil {
		return nil, err
	}
	unlock, err := c.locks.host(ctx, host)
	if err != nil {
		return nil, err
	}
	defer unlock()
	type plan struct {
		is   *issuer
		prev Record
	}
	var plans []plan
	for _, is := range targets {
		prev, ok, err := c.inv.active(host, is.slot)
		if err != nil {
			return nil, err
		}
		switch {
		case ok:
			plans = append(plans, plan{is, prev})
		case len(families) > 0:
			return nil, fmt.Errorf("%s has no active %s certificate; issue one with `pushca cert issue %s --family %s`", host, is.family.Name, host, is.family.Name)
		}
	}
	if len(plans) == 0 {
		return nil, fmt.Errorf("%s has no active certificate; issue one with `pushca cert issue %s`", host, host)
	}
	if csr != nil && len(plans) > 1 {
		return nil, fmt.Errorf("a CSR carries one key, and %s has certificates in %d chain families; name one with --family", host, len(plans))
	}
	var out []*Issued
	for _, pl := range plans {
		is, err := c.reissueOne(ctx, pl.is, host, pl.prev, newKey, csr)
		if err != nil {
			return out, err
		}
		out = append(out, is)
	}
	return out, nil
}

func (c *CA) reissueOne(ctx context.Context, is *issuer, host string, prev Record, newKey bool, csr *x509.CertificateRequest) (*Issued, error) {
	r := rulesOf(is.family)
	old, err := prev.Certificate()
	if err != nil {
		return nil, err
	}
	if old.NotAfter.Sub(old.NotBefore) > time.Until(is.inter.NotAfter) {
		return nil, fmt.Errorf("a renewal of %s would outlive the intermediate CA (%s family, expires %s); rotate the intermediate first", host, is.family.Name, is.inter.NotAfter.Format("2006-01-02"))
	}
	source := prev.KeySource
	var key crypto.Signer
	var chain []*x509.Certificate
	switch {
	case !newKey && source == keyGenerated && !ownFiles(c.layout, prev):
		return nil, fmt.Errorf("the key of %s's certificate (serial %s) is in the state directory %s, not this one: renew it there, or rotate it here (a new key)", host, prev.Serial, prev.Files)
	case !newKey:
		if source == keyGenerated {
			if key, err = readPlainKey(c.layout.ServerKey(host, is.slot)); err != nil {
				return nil, err
			}
		}
		chain, err = is.auth.RenewContext(ctx, old, nil)
	case csr != nil:
		if err := csr.CheckSignature(); err != nil {
			return nil, fmt.Errorf("CSR signature does not verify: %w", err)
		}
		if err := r.checkKey(csr.PublicKey); err != nil {
			return nil, fmt.Errorf("CSR key: %w", err)
		}
		source = keyFromCSR
		chain, err = is.auth.RenewContext(ctx, old, csr.PublicKey)
	case source == keyFromCSR:
		return nil, fmt.Errorf("the key of %s came from a CSR, so pushca cannot make a new one; pass --csr with a new request", host)
	default:
		if key, err = generateKey(is.family); err != nil {
			return nil, err
		}
		chain, err = is.auth.RenewContext(ctx, old, key.Public())
	}
	if err != nil {
		return nil, fmt.Errorf("renew %s (serial %s): %w", host, prev.Serial, err)
	}
	if errs := r.check(chain[0], profile.Leaf); len(errs) > 0 {
		c.revokeSerial(ctx, is, chain[0], "profile check failed", 0)
		return nil, fmt.Errorf("renewed %s certificate for %s breaks its family's rules and was revoked: %w", is.family.Name, host, errors.Join(errs...))
	}
	return c.finish(ctx, is, host, r, chain[0], key, source, &prev)
}

// removeVersion deletes a version directory that never became current.
func (c *CA) removeVersion(r Record) error {
	return os.RemoveAll(c.layout.ServerVersion(r.Host, r.Serial))
}

// leafTemplateName is the template of every leaf, pushca's and step-ca's
// (see peerAuthority).
const leafTemplateName = "x509/leaf.tpl"

// parseLeafTemplate parses the leaf template once per CA: x509util's
// WithTemplate builds sprig's function map and parses the text on every
// call, which cost as much as a tenth of an issuance.
func parseLeafTemplate() (*template.Template, error) {
	text, err := templates.Read(leafTemplateName)
	if err != nil {
		return nil, err
	}
	// The function map's "fail" writes to a message shared by every
	// execution; the leaf template calls it only for a key that keyAndCSR
	// has already refused, so concurrent issuances share one parsed
	// template safely (Execute itself is safe).
	t, err := template.New(leafTemplateName).Funcs(x509util.GetFuncMap()).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", leafTemplateName, err)
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

type profileValidator struct{ r rules }

func (v profileValidator) Valid(cert *x509.Certificate, _ provisioner.SignOptions) error {
	return errors.Join(v.r.check(cert, profile.Leaf)...)
}
