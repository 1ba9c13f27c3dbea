package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"text/template"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/db"
	"github.com/smallstep/nosql/database"

	"github.com/pushca/pushca/profile"
)

// CA is an opened state directory: one root and, under it, one intermediate
// per chain family. It holds the decrypted intermediate keys and the
// inventory database open until Close. On bbolt only one process at a time
// can open a state directory (bbolt locks the file); on PostgreSQL the
// processes of every state directory that names the database work at once,
// each host's operations serialised by advisory locks (see locks). Its methods are safe for
// concurrent use: operations on one host run one at a time, operations on
// different hosts run in parallel and share database commits.
type CA struct {
	layout Layout
	state  State
	root   *x509.Certificate
	// issuers, one per family in the state's order; replaced as a whole
	// under mu by RotateIntermediate and AddFamily.
	issuers []*issuer
	db      *db.DB
	inv     *inventory
	step    *stepDB
	// leafTemplate is templates' x509/leaf.tpl, parsed once.
	leafTemplate *template.Template
	// mu is held for reading by every operation that signs or revokes, and
	// for writing by RotateIntermediate, AddFamily and Close, which replace
	// or stop the authorities, the intermediates and their keys.
	mu    sync.RWMutex
	locks locks
	// crlMu keeps two CRL writers from giving two lists one number (see
	// lockCRL).
	crlMu sync.Mutex
	// failpoint lets tests stop an operation between two writes, the way a
	// crash would; nil in production.
	failpoint func(stage string) error
}

// issuer is one family's intermediate and the smallstep authority that
// signs with it. Every issuer's authority shares the CA's database.
type issuer struct {
	slot   Slot
	family profile.Family
	inter  *x509.Certificate
	signer crypto.Signer
	auth   *authority.Authority
}

// Open reads a state directory and decrypts the intermediate keys.
func Open(ctx context.Context, dir string, password []byte) (*CA, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := Layout{Dir: dir}
	st, err := readState(l)
	if err != nil {
		return nil, err
	}
	l.dsn = st.DB
	for _, s := range st.slots() {
		if err := finishRotation(l, s); err != nil {
			return nil, fmt.Errorf("finish an interrupted intermediate rotation in %s: %w", dir, err)
		}
	}
	root, err := readCert(l.RootCert())
	if err != nil {
		return nil, err
	}
	var issuers []*issuer
	for _, s := range st.slots() {
		is, err := readIssuer(l, s, root, password)
		if err != nil {
			return nil, err
		}
		issuers = append(issuers, is)
	}
	leafTemplate, err := parseLeafTemplate()
	if err != nil {
		return nil, err
	}
	c := &CA{layout: l, state: st, root: root, issuers: issuers, leafTemplate: leafTemplate}
	if err := c.openDB(ctx); err != nil {
		return nil, err
	}
	if err := c.startAuthorities(); err != nil {
		c.closeDB()
		return nil, err
	}
	if err := syncStepConfigs(l, l, st); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// readIssuer reads one family's intermediate and key and checks that they
// belong together and under root.
func readIssuer(l Layout, s Slot, root *x509.Certificate, password []byte) (*issuer, error) {
	f, err := profile.GetFamily(s.Family)
	if err != nil {
		return nil, err
	}
	inter, err := readCert(l.IntermediateCert(s))
	if err != nil {
		return nil, err
	}
	signer, err := readEncryptedKey(l.IntermediateKey(s), password)
	if err != nil {
		return nil, err
	}
	if !samePublicKey(inter, signer) {
		return nil, fmt.Errorf("CA key %s does not belong to certificate %s: the state directory is inconsistent", l.IntermediateKey(s), l.IntermediateCert(s))
	}
	if err := profile.CheckSignedBy(inter, root); err != nil {
		return nil, fmt.Errorf("intermediate %s is not under the root %s: %w", l.IntermediateCert(s), l.RootCert(), err)
	}
	return &issuer{slot: s, family: f, inter: inter, signer: signer}, nil
}

// Close stops the authorities and releases the database.
func (c *CA) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == nil {
		return nil
	}
	c.stopAuthorities()
	return c.closeDB()
}

// closeDB releases the database and the advisory locks' connections.
func (c *CA) closeDB() error {
	if c.locks.pg != nil {
		c.locks.pg.Close()
		c.locks.pg = nil
	}
	err := c.db.Shutdown()
	c.db = nil
	return err
}

// Families returns the CA's chain families, first family first.
func (c *CA) Families() []profile.Family {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]profile.Family, len(c.issuers))
	for i, is := range c.issuers {
		out[i] = is.family
	}
	return out
}

// Slots returns the CA's chain families with the names of their files.
func (c *CA) Slots() []Slot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.slots()
}

// Profiles returns the device profiles one of the CA's families serves.
func (c *CA) Profiles() []profile.Profile {
	return profile.ProfilesOf(c.familyNames())
}

func (c *CA) familyNames() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]string(nil), c.state.Families...)
}

// Root returns the root certificate every device trusts.
func (c *CA) Root() *x509.Certificate { return c.root }

// Intermediate returns a family's current intermediate, nil when the CA has
// no such family.
func (c *CA) Intermediate(family string) *x509.Certificate {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if is := c.issuer(family); is != nil {
		return is.inter
	}
	return nil
}

// issuer returns the named family's issuer, nil when there is none. The
// caller holds c.mu.
func (c *CA) issuer(family string) *issuer {
	for _, is := range c.issuers {
		if is.family.Name == family {
			return is
		}
	}
	return nil
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

// openDB opens the database every family's authority shares: the bbolt
// file, checked page by page first, or the PostgreSQL database the state
// names, with a pool of connections for the advisory locks.
func (c *CA) openDB(ctx context.Context) error {
	cfg := dbConfig(c.layout, c.state)
	if c.state.DB == "" {
		if err := checkDB(c.layout); err != nil {
			return err
		}
	} else {
		cfg.DataSource = withParams(cfg.DataSource, map[string]string{"connect_timeout": connectTimeout})
	}
	adb, err := openStepDB(c.layout, cfg)
	switch {
	case err != nil && c.state.DB != "":
		return pgOpenError(c.state.DB, err)
	case err != nil && strings.Contains(err.Error(), "timeout"):
		return fmt.Errorf("open database %s: in use by another pushca process (is `pushca serve` running?): %w", c.layout.DB(), err)
	case err != nil:
		return fmt.Errorf("open database %s: %w", c.layout.DB(), err)
	}
	sdb, ok := adb.(*db.DB)
	if !ok {
		adb.Shutdown()
		return errors.New("open CA: the database does not support the pushca inventory")
	}
	// step-ca's writes and the inventory's share transactions when
	// issuances run concurrently.
	raw := sdb.DB
	if c.state.DB != "" {
		raw = newBoundedDB(raw, pgCalls)
	}
	sdb.DB = &groupCommit{DB: guardedDB{raw, c.layout}}
	inv, err := openInventory(sdb, c.layout, c.state)
	if err == nil {
		err = checkInventory(c.layout, c.state, inv)
	}
	if err != nil {
		sdb.Shutdown()
		return fmt.Errorf("open inventory %s: %w", c.layout.database(), err)
	}
	if c.state.DB != "" {
		// One connection per host being worked on: pgxpool's default of
		// four would queue a fifth concurrent issuance behind the others.
		pool, err := pgxpool.New(ctx, withParams(c.state.DB, map[string]string{"connect_timeout": connectTimeout, "pool_max_conns": "32"}))
		if err != nil {
			sdb.Shutdown()
			return pgOpenError(c.state.DB, err)
		}
		c.locks.pg = pool
	}
	c.db, c.step, c.inv = sdb, &stepDB{DB: sdb}, inv
	return nil
}

// openStepDB opens the database for writing. bbolt reads its freelist
// then, and panics when that page is damaged: recovered here into an error.
func openStepDB(l Layout, cfg *db.Config) (adb db.AuthDB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = damaged(l, "cannot be opened (%v)", r)
		}
	}()
	return db.New(cfg)
}

// checkInventory refuses an inventory that knows none of the hosts servers/
// holds certificates for: a database replaced by an empty one would
// otherwise be taken for a CA that never issued anything.
func checkInventory(l Layout, st State, inv *inventory) error {
	hosts := issuedHosts(l)
	for _, h := range hosts {
		for _, s := range st.slots() {
			if _, err := inv.db.Get(hostsTable, hostKey(h, s)); err == nil {
				return nil
			} else if !database.IsErrNotFound(err) {
				return err
			}
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	return damaged(l, "records none of the certificates servers/ holds (for %s)", strings.Join(hosts, ", "))
}

// sharedDB is the database as one family's authority sees it: shutting that
// authority down must not close the database the others still use.
type sharedDB struct{ *stepDB }

func (sharedDB) Shutdown() error { return nil }

// startAuthorities starts a smallstep authority for every issuer that has
// none.
func (c *CA) startAuthorities() error {
	// pushca signs its own CRLs (see CRL): stepConfig has no CRL section,
	// so smallstep's generator neither re-signs one on every open nor runs
	// a ticker goroutine.
	for _, is := range c.issuers {
		if is.auth != nil {
			continue
		}
		// Each authority knows its own family's ACME provisioner only, so
		// that /acme/FAMILY/ signs with that family's intermediate.
		acme, err := acmeProvisioner(is.family, is.slot, c.state.CRLURL)
		if err != nil {
			c.stopAuthorities()
			return err
		}
		cfg := stepConfig(c.layout, c.state)
		cfg.AuthorityConfig.Provisioners = provisioner.List{acme}
		a, err := authority.NewEmbedded(
			authority.WithConfig(cfg),
			authority.WithDatabase(sharedDB{c.step}),
			authority.WithQuietInit(),
			authority.WithX509RootCerts(c.root),
			authority.WithX509Signer(is.inter, signatureSigner{is.signer, is.family.Signature}),
		)
		if err != nil {
			c.stopAuthorities()
			return fmt.Errorf("open CA family %s in %s: %w", is.family.Name, c.layout.Dir, err)
		}
		is.auth = a
	}
	return nil
}

func (c *CA) stopAuthorities() {
	for _, is := range c.issuers {
		if is.auth != nil {
			is.auth.Shutdown()
			is.auth = nil
		}
	}
}

func (c *CA) fail(stage string) error {
	if c.failpoint == nil {
		return nil
	}
	return c.failpoint(stage)
}
