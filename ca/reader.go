package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/smallstep/nosql"
	"github.com/smallstep/nosql/database"
	bolt "go.etcd.io/bbolt"

	"github.com/pushca/pushca/profile"
)

// Reader is a state directory opened only to read, without the CA
// password: the inventory, the root and each family's intermediate. The
// commands that only look (cert list, cert status, ca inspect) use it, so
// that monitoring never needs the CA secret on disk. It opens the database
// read-only (on PostgreSQL, a connection whose every transaction is
// read-only), beside a running pushca serve, and runs the same integrity
// checks as Open; it repairs nothing (Check reports an interrupted
// issuance until a command that signs opens the CA).
type Reader struct {
	layout Layout
	state  State
	root   *x509.Certificate
	inters []*x509.Certificate // in the state's family order
	inv    *inventory
	bdb    *bolt.DB // nil when the CA has no database yet, or is on PostgreSQL
	pdb    nosql.DB // the PostgreSQL database, read-only; nil on bbolt
}

// OpenReader opens a state directory to read.
func OpenReader(ctx context.Context, dir string) (*Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := Layout{Dir: dir}
	st, err := readState(l)
	if err != nil {
		return nil, err
	}
	l.dsn = st.DB
	r := &Reader{layout: l, state: st}
	if r.root, err = readCert(l.RootCert()); err != nil {
		return nil, err
	}
	for _, s := range st.slots() {
		inter, err := readCert(l.IntermediateCert(s))
		if err != nil {
			return nil, err
		}
		r.inters = append(r.inters, inter)
	}
	db, err := r.openDB()
	if err != nil {
		return nil, err
	}
	if r.inv, err = newInventory(guardedDB{db, l}, l, st); err != nil {
		r.Close()
		return nil, err
	}
	if err := checkInventory(l, st, r.inv); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// openDB opens the database to read: on PostgreSQL a connection whose
// transactions are read-only; on bbolt the file read-only, after the
// checks of every page, when it exists.
func (r *Reader) openDB() (nosql.DB, error) {
	l := r.layout
	if r.state.DB != "" {
		d, err := openPG(r.state.DB, true)
		if err != nil {
			return nil, err
		}
		r.pdb = d
		return d, nil
	}
	if err := checkDB(l); err != nil {
		return nil, err
	}
	if _, err := os.Stat(l.DB()); errors.Is(err, fs.ErrNotExist) {
		return readOnlyDB{}, nil
	}
	bdb, err := bolt.Open(l.DB(), 0o600, &bolt.Options{ReadOnly: true, Timeout: dbLockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open database %s: in use by a pushca command that is changing it; try again: %w", l.DB(), err)
	}
	if err != nil {
		return nil, damaged(l, "cannot be opened (%v)", err)
	}
	r.bdb = bdb
	return readOnlyDB{bdb}, nil
}

// Close releases the database.
func (r *Reader) Close() error {
	var err error
	if r.bdb != nil {
		err = r.bdb.Close()
		r.bdb = nil
	}
	if r.pdb != nil {
		err = r.pdb.Close()
		r.pdb = nil
	}
	return err
}

// List returns every certificate in the inventory, oldest first.
func (r *Reader) List(ctx context.Context) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r.inv.all()
}

// Expiring returns the active certificates that expire before now+within.
func (r *Reader) Expiring(ctx context.Context, now time.Time, within time.Duration) ([]Record, error) {
	recs, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	return expiring(recs, now, within), nil
}

// Root returns the root certificate every device trusts.
func (r *Reader) Root() *x509.Certificate { return r.root }

// Families returns the CA's chain families, first family first.
func (r *Reader) Families() []profile.Family {
	out := make([]profile.Family, len(r.state.Families))
	for i, n := range r.state.Families {
		out[i], _ = profile.GetFamily(n) // readState checked the names
	}
	return out
}

// Intermediate returns a family's current intermediate, nil when the CA has
// no such family.
func (r *Reader) Intermediate(family string) *x509.Certificate {
	for i, n := range r.state.Families {
		if n == family {
			return r.inters[i]
		}
	}
	return nil
}

// Profiles returns the device profiles one of the CA's families serves.
func (r *Reader) Profiles() []profile.Profile { return profile.ProfilesOf(r.state.Families) }

// Layout names the files of the state directory.
func (r *Reader) Layout() Layout { return r.layout }

// readOnlyDB is the inventory's view of a bbolt database opened read-only
// (smallstep/nosql's driver always opens for writing): lookups only. With
// no database it holds nothing.
type readOnlyDB struct{ bdb *bolt.DB }

var errReadOnly = errors.New("the database is open read-only")

func (d readOnlyDB) Get(bucket, key []byte) (v []byte, err error) {
	if d.bdb == nil {
		return nil, database.ErrNotFound
	}
	err = d.bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil || b.Get(key) == nil {
			return database.ErrNotFound
		}
		v = append([]byte(nil), b.Get(key)...)
		return nil
	})
	return v, err
}

func (d readOnlyDB) List(bucket []byte) (es []*database.Entry, err error) {
	if d.bdb == nil {
		return nil, database.ErrNotFound
	}
	err = d.bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return database.ErrNotFound
		}
		return b.ForEach(func(k, v []byte) error {
			es = append(es, &database.Entry{Bucket: bucket, Key: append([]byte(nil), k...), Value: append([]byte(nil), v...)})
			return nil
		})
	})
	return es, err
}

func (readOnlyDB) Open(string, ...database.Option) error              { return errReadOnly }
func (readOnlyDB) Close() error                                       { return nil }
func (readOnlyDB) Set([]byte, []byte, []byte) error                   { return errReadOnly }
func (readOnlyDB) Del([]byte, []byte) error                           { return errReadOnly }
func (readOnlyDB) Update(*database.Tx) error                          { return errReadOnly }
func (readOnlyDB) CreateTable([]byte) error                           { return errReadOnly }
func (readOnlyDB) DeleteTable([]byte) error                           { return errReadOnly }
func (readOnlyDB) CmpAndSwap(_, _, _, _ []byte) ([]byte, bool, error) { return nil, false, errReadOnly }
