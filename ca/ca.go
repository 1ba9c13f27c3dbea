package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"text/template"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/db"

	"github.com/pushca/pushca/profile"
)

// CA is an opened state directory. It holds the decrypted intermediate key
// and the inventory database open until Close; only one process at a time
// can open a state directory (bbolt locks the database). Its methods are
// safe for concurrent use: operations on one host run one at a time,
// operations on different hosts run in parallel and share database commits.
type CA struct {
	layout  Layout
	state   State
	profile profile.Profile
	root    *x509.Certificate
	inter   *x509.Certificate
	signer  crypto.Signer
	auth    *authority.Authority
	inv     *inventory
	step    *stepDB
	// leafTemplate is templates' x509/leaf.tpl, parsed once.
	leafTemplate *template.Template
	// mu is held for reading by every operation that signs or revokes, and
	// for writing by RotateIntermediate and Close, which replace or stop
	// the authority, the intermediate and its key.
	mu    sync.RWMutex
	hosts hostLocks
	// crlMu keeps two CRL writers from giving two lists one number.
	crlMu sync.Mutex
	// failpoint lets tests stop an operation between two writes, the way a
	// crash would; nil in production.
	failpoint func(stage string) error
}

// Open reads a state directory and decrypts the intermediate key.
func Open(ctx context.Context, dir string, password []byte) (*CA, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := Layout{Dir: dir}
	st, err := readState(l)
	if err != nil {
		return nil, err
	}
	p, err := profile.Get(st.Profile)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", l.State(), err)
	}
	if err := finishRotation(l); err != nil {
		return nil, fmt.Errorf("finish an interrupted intermediate rotation in %s: %w", dir, err)
	}
	root, err := readCert(l.RootCert())
	if err != nil {
		return nil, err
	}
	inter, err := readCert(l.IntermediateCert())
	if err != nil {
		return nil, err
	}
	signer, err := readEncryptedKey(l.IntermediateKey(), password)
	if err != nil {
		return nil, err
	}
	if !samePublicKey(inter, signer) {
		return nil, fmt.Errorf("CA key %s does not belong to certificate %s: the state directory is inconsistent", l.IntermediateKey(), l.IntermediateCert())
	}
	leafTemplate, err := parseLeafTemplate()
	if err != nil {
		return nil, err
	}
	c := &CA{layout: l, state: st, profile: p, root: root, inter: inter, signer: signer, leafTemplate: leafTemplate}
	if err := c.startAuthority(); err != nil {
		return nil, err
	}
	return c, nil
}

// Close releases the database and stops the CRL generator.
func (c *CA) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.auth == nil {
		return nil
	}
	err := c.auth.Shutdown()
	c.auth = nil
	return err
}

// Profile is the CA's device profile: the rules its chain was issued under.
func (c *CA) Profile() profile.Profile { return c.profile }

// Root and Intermediate return the CA certificates.
func (c *CA) Root() *x509.Certificate { return c.root }
func (c *CA) Intermediate() *x509.Certificate {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.inter
}

// Layout names the files of the state directory.
func (c *CA) Layout() Layout { return c.layout }

// signatureSigner tells smallstep's soft CAS which signature algorithm to
// use when a template does not say (renewals copy no algorithm): without it
// a SHA-1 chain would get SHA-256 leaves on renewal, which Windows Mobile
// rejects.
type signatureSigner struct {
	crypto.Signer
	alg x509.SignatureAlgorithm
}

func (s signatureSigner) SignatureAlgorithm() x509.SignatureAlgorithm { return s.alg }

func keyType(pub crypto.PublicKey) string {
	if _, ok := pub.(*ecdsa.PublicKey); ok {
		return profile.KeyEC
	}
	return profile.KeyRSA
}

// stepConfig is the step-ca configuration of a state directory. pushca builds
// it from the layout on every Open (so a moved directory still works) and
// writes it to config/ca.json at init for step-ca.
func stepConfig(l Layout, prov provisioner.List, crlURL string) *config.Config {
	return &config.Config{
		Root:             []string{l.RootCert()},
		IntermediateCert: l.IntermediateCert(),
		IntermediateKey:  l.IntermediateKey(),
		Address:          "127.0.0.1:9000",
		DNSNames:         []string{"localhost"},
		DB:               &db.Config{Type: "bbolt", DataSource: l.DB()},
		AuthorityConfig:  &config.AuthConfig{Provisioners: prov},
		CRL:              &config.CRLConfig{Enabled: true, GenerateOnRevoke: true, IDPurl: crlURL},
	}
}

func (c *CA) startAuthority() error {
	cfg := stepConfig(c.layout, nil, c.state.CRLURL)
	// pushca signs its own CRLs (see CRL); smallstep's generator would also
	// re-sign one on every open and run a ticker goroutine.
	cfg.CRL = nil
	adb, err := db.New(cfg.DB)
	if err != nil {
		if strings.Contains(err.Error(), "timeout") {
			return fmt.Errorf("open database %s: in use by another pushca process (is `pushca serve` running?): %w", c.layout.DB(), err)
		}
		return fmt.Errorf("open database %s: %w", c.layout.DB(), err)
	}
	sdb, ok := adb.(*db.DB)
	if !ok {
		adb.Shutdown()
		return errors.New("open CA: the database does not support the pushca inventory")
	}
	// step-ca's writes and the inventory's share transactions when
	// issuances run concurrently.
	sdb.DB = &groupCommit{DB: sdb.DB}
	step := &stepDB{DB: sdb}
	a, err := authority.NewEmbedded(
		authority.WithConfig(cfg),
		authority.WithDatabase(step),
		authority.WithQuietInit(),
		authority.WithX509RootCerts(c.root),
		authority.WithX509Signer(c.inter, signatureSigner{c.signer, c.profile.SignatureFor(keyType(c.signer.Public()))}),
	)
	if err != nil {
		sdb.Shutdown()
		return fmt.Errorf("open CA in %s: %w", c.layout.Dir, err)
	}
	inv, err := openInventory(sdb)
	if err != nil {
		a.Shutdown()
		return fmt.Errorf("open inventory %s: %w", c.layout.DB(), err)
	}
	c.auth, c.inv, c.step = a, inv, step
	return nil
}

func (c *CA) fail(stage string) error {
	if c.failpoint == nil {
		return nil
	}
	return c.failpoint(stage)
}
