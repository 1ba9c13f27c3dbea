package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.step.sm/crypto/keyutil"
	"go.step.sm/crypto/x509util"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/templates"
)

// InitOptions says how to create a CA.
type InitOptions struct {
	// Name prefixes the subjects: "<Name> Root CA", "<Name> Intermediate CA".
	Name string
	// Families are the chain families to create under the one root, in
	// the order the state keeps them (the first one's files carry the names
	// step-ca's configuration uses). See profile.FamiliesFor.
	Families []string
	Password []byte
	// Lifetimes; zero means the defaults below.
	RootValidity, IntermediateValidity time.Duration
	// CRLURL, when set, is written into every certificate issued.
	CRLURL string
	// DB is the PostgreSQL URL of the database (see CheckDSN); empty for
	// the bbolt file in the directory.
	DB string
}

// Default CA lifetimes. The root stays below 2050 for decades to come so its
// dates remain UTCTime, the only form some old X.509 parsers read.
const (
	DefaultRootValidity         = 20 * 365 * 24 * time.Hour
	DefaultIntermediateValidity = 10 * 365 * 24 * time.Hour
)

// Init creates a new state directory at dir: root and intermediate with
// encrypted keys, the step-ca configuration and an empty inventory. It builds
// everything in a temporary sibling directory and renames it into place, so
// a failure or crash never leaves a half-made CA at dir.
func Init(ctx context.Context, dir string, opt InitOptions) error {
	if opt.Name == "" {
		opt.Name = "pushca"
	}
	if opt.RootValidity == 0 {
		opt.RootValidity = DefaultRootValidity
	}
	if opt.IntermediateValidity == 0 {
		opt.IntermediateValidity = DefaultIntermediateValidity
	}
	if opt.IntermediateValidity > opt.RootValidity {
		return fmt.Errorf("intermediate validity %v exceeds root validity %v", opt.IntermediateValidity, opt.RootValidity)
	}
	if len(opt.Password) == 0 {
		return errors.New("a CA password is required: the CA keys are stored encrypted")
	}
	if len(opt.Families) == 0 {
		return errors.New("name at least one chain family (or the device profiles of the fleet)")
	}
	dsn, err := CheckDSN(opt.DB)
	if err != nil {
		return err
	}
	opt.DB = dsn
	fams := make([]profile.Family, 0, len(opt.Families))
	for i, n := range opt.Families {
		f, err := profile.GetFamily(n)
		if err != nil {
			return err
		}
		if slices.Contains(opt.Families[:i], n) {
			return fmt.Errorf("chain family %s named twice", n)
		}
		fams = append(fams, f)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := CheckInitTarget(abs); err != nil {
		return err
	}
	parent := filepath.Dir(abs)
	if err := atomicfile.MkdirAll(parent); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(abs)+".init-*")
	if err != nil {
		return fmt.Errorf("create state directory in %s: %w", parent, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, atomicfile.DirMode); err != nil {
		return err
	}
	if err := build(ctx, Layout{Dir: tmp}, Layout{Dir: abs}, fams, opt); err != nil {
		return err
	}
	if err := os.Rename(tmp, abs); err != nil {
		return fmt.Errorf("move new state directory into %s: %w", abs, err)
	}
	ok = true
	return nil
}

// CheckInitTarget says whether Init may create a CA at dir: it refuses to
// initialise over anything, since an existing CA must never be replaced by
// accident, and says what dir holds instead. The CLI calls it before it
// asks for a password.
func CheckInitTarget(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state directory %s is a file, not a directory; choose a new --dir", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	if len(ents) == 0 {
		return nil
	}
	l := Layout{Dir: dir}
	st, err := readState(l)
	if errors.Is(err, ErrNotInitialized) {
		return fmt.Errorf("state directory %s is not empty and is not a pushca directory; choose an empty or new --dir", dir)
	}
	if err != nil {
		return fmt.Errorf("state directory %s already holds a CA, whose state cannot be read: %w", dir, err)
	}
	if hosts, _ := os.ReadDir(l.path("servers")); len(hosts) == 0 {
		return fmt.Errorf("state directory %s already holds a CA (created %s, chain families %s) but no server certificate: an init was interrupted after making the CA. Finish it with `pushca --dir %s cert issue HOST`",
			dir, st.Created.Format("2006-01-02 15:04 MST"), strings.Join(st.Families, ", "), dir)
	}
	return fmt.Errorf("state directory %s already holds a CA (created %s, chain families %s); issue more certificates with `pushca --dir %s cert issue HOST`, or use another --dir to start over",
		dir, st.Created.Format("2006-01-02 15:04 MST"), strings.Join(st.Families, ", "), dir)
}

// rootKeyBits: the root is RSA 2048 whatever the families, so a legacy
// family can always be added later (Windows Mobile accepts no ECDSA and is
// known to work only with 2048-bit keys).
const rootKeyBits = 2048

// build writes a complete CA into tmp. final is where it will live; the
// step-ca configuration names final's paths.
func build(ctx context.Context, tmp, final Layout, fams []profile.Family, opt InitOptions) error {
	for _, d := range []string{"config", "certs", "secrets", "db", "servers"} {
		if err := atomicfile.MkdirAll(filepath.Join(tmp.Dir, d)); err != nil {
			return err
		}
	}
	rootKey, err := keyutil.GenerateSigner(profile.KeyRSA, "", rootKeyBits)
	if err != nil {
		return fmt.Errorf("generate root key: %w", err)
	}
	// Clients never check a root's self-signature, except perhaps Windows
	// Mobile [U]: SHA-1 when any family asks for it.
	rootSig := x509.SHA256WithRSA
	for _, f := range fams {
		if f.RootSignature == x509.SHA1WithRSA {
			rootSig = x509.SHA1WithRSA
		}
	}
	now := time.Now().Truncate(time.Second)
	root, err := createCA("root", opt.Name+" Root CA", rootKey, nil, rootKey, rootSig, now, opt.RootValidity, "")
	if err != nil {
		return err
	}
	if err := writeEncryptedKey(tmp.RootKey(), rootKey, opt.Password); err != nil {
		return err
	}
	if err := writeCerts(tmp.RootCert(), root); err != nil {
		return err
	}
	// An empty root CRL from the start, so the distribution point every
	// intermediate names is never a 404.
	rootCRL, err := signRootCRL(root, rootKey, big.NewInt(1), now.UTC(), nil)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(tmp.RootCRL(), rootCRL, atomicfile.FileMode); err != nil {
		return err
	}
	st := State{Format: FormatVersion, Name: opt.Name, Created: now.UTC(), CRLURL: opt.CRLURL, DB: opt.DB}
	for i, f := range fams {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := newSlot(f.Name, i == 0)
		if _, err := newIntermediate(tmp, s, f, root, rootKey, opt.Name, 1, now, opt.IntermediateValidity, opt.Password, RootCRLURL(opt.CRLURL)); err != nil {
			return err
		}
		st.Families = append(st.Families, f.Name)
	}
	if err := syncStepConfigs(tmp, final, st); err != nil {
		return err
	}
	// The state file last: its presence means the directory is complete.
	return writeState(tmp, st)
}

// newIntermediate makes family f's intermediate (generation gen) under the
// root, self-checks it against every profile the family serves, and writes
// it and its encrypted key to the slot's files in l (with suffix appended
// to both names, for a rotation).
func newIntermediate(l Layout, s Slot, f profile.Family, root *x509.Certificate, rootKey crypto.Signer, name string, gen int, now time.Time, validity time.Duration, password []byte, crlURL string, suffix ...string) (*issuer, error) {
	key, err := generateKey(f)
	if err != nil {
		return nil, err
	}
	cn := fmt.Sprintf("%s %s Intermediate CA", name, f.Name)
	if gen > 1 {
		cn += fmt.Sprintf(" G%d", gen)
	}
	inter, err := createCA("intermediate", cn, key, root, rootKey, f.SignatureBy(profile.KeyTypeOf(rootKey.Public())), now, validity, crlURL)
	if err != nil {
		return nil, err
	}
	if errs := checkCAChain(f, root, inter); len(errs) > 0 {
		return nil, fmt.Errorf("self-check of the new %s intermediate failed: %w", f.Name, errors.Join(errs...))
	}
	sfx := strings.Join(suffix, "")
	if err := writeEncryptedKey(l.IntermediateKey(s)+sfx, key, password); err != nil {
		return nil, err
	}
	if err := writeCerts(l.IntermediateCert(s)+sfx, inter); err != nil {
		return nil, err
	}
	return &issuer{slot: s, family: f, inter: inter, signer: key}, nil
}

// createCA makes a root (parent nil) or an intermediate from the embedded
// templates, signed with sig.
func createCA(kind, cn string, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer, sig x509.SignatureAlgorithm, now time.Time, validity time.Duration, crlURL string) (*x509.Certificate, error) {
	tpl, err := templates.Read("x509/" + kind + ".tpl")
	if err != nil {
		return nil, err
	}
	csr, err := x509util.CreateCertificateRequest(cn, nil, key)
	if err != nil {
		return nil, fmt.Errorf("%s certificate: %w", kind, err)
	}
	data := x509util.CreateTemplateData(cn, nil)
	data.SetUserData(map[string]any{
		"signatureAlgorithm": sigAlgName(sig),
		"crlURL":             crlURL,
	})
	c, err := x509util.NewCertificate(csr, x509util.WithTemplate(string(tpl), data))
	if err != nil {
		return nil, fmt.Errorf("%s certificate template: %w", kind, err)
	}
	t := c.GetCertificate()
	t.NotBefore, t.NotAfter = now.Add(-time.Minute), now.Add(validity)
	if parent == nil {
		parent = t
	}
	cert, err := x509util.CreateCertificate(t, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("sign %s certificate: %w", kind, err)
	}
	return cert, nil
}

// checkCAChain checks root and a family's intermediate the way every device
// the family serves would.
func checkCAChain(f profile.Family, root, inter *x509.Certificate) []error {
	var errs []error
	for _, p := range profile.ProfilesServedBy(f) {
		errs = append(errs, p.Check(root, profile.Root)...)
		errs = append(errs, p.Check(inter, profile.Intermediate)...)
	}
	if err := profile.CheckSignedBy(root, root); err != nil {
		errs = append(errs, err)
	}
	if err := profile.CheckSignedBy(inter, root); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// sigAlgName is the x509util template name of a signature algorithm.
func sigAlgName(a x509.SignatureAlgorithm) string {
	switch a {
	case x509.SHA1WithRSA:
		return x509util.SHA1WithRSA
	case x509.SHA256WithRSA:
		return x509util.SHA256WithRSA
	case x509.ECDSAWithSHA256:
		return x509util.ECDSAWithSHA256
	}
	return a.String()
}
