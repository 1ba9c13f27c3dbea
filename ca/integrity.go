package ca

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/smallstep/nosql"
	"github.com/smallstep/nosql/database"
	bolt "go.etcd.io/bbolt"
)

// ErrDamaged marks a state directory whose database cannot be the CA's
// truth: missing or empty while certificates were issued, or failing
// bbolt's own consistency check. An empty inventory would publish an empty
// CRL and re-issue over active certificates, so such a directory is never
// opened.
var ErrDamaged = errors.New("the CA database is damaged")

// dbLockTimeout is how long an open waits for another process's lock on
// the database before it says the directory is in use.
const dbLockTimeout = 5 * time.Second

// damaged is an ErrDamaged error about the database of l, with what to do.
func damaged(l Layout, format string, args ...any) error {
	restore := fmt.Sprintf("`pushca --dir %s ca restore BACKUP --force`", l.Dir)
	if l.dsn != "" {
		restore += fmt.Sprintf(", then `pushca --dir %s ca migrate --to %s --force`", l.Dir, redactDSN(l.dsn))
	}
	return fmt.Errorf("%w: %s %s; restore the state directory from a backup (%s; never run a CA on a partial database: revoked certificates would be trusted again)",
		ErrDamaged, l.database(), fmt.Sprintf(format, args...), restore)
}

// checkDB refuses a database that is missing, empty or inconsistent while
// the directory has issued certificates. bbolt would create a missing file,
// accept an empty one as new, and panic on some damaged pages at the first
// read; so the file is looked at first, and every page is read in a
// read-only open, its panics recovered. A missing database in a directory
// that never issued anything is a new CA's.
func checkDB(l Layout) error {
	fi, err := os.Stat(l.DB())
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0:
		what := "is missing"
		if err == nil {
			what = "is empty (0 bytes)"
		}
		if hosts := issuedHosts(l); len(hosts) > 0 {
			return damaged(l, "%s, but servers/ holds certificates for %s", what, strings.Join(hosts, ", "))
		}
		return nil
	case err != nil:
		return fmt.Errorf("database %s: %w", l.DB(), err)
	}
	bdb, err := bolt.Open(l.DB(), 0o600, &bolt.Options{ReadOnly: true, Timeout: dbLockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("open database %s: in use by another pushca process (is `pushca serve` running?): %w", l.DB(), err)
	}
	if err != nil {
		return damaged(l, "cannot be opened (%v)", err)
	}
	defer bdb.Close()
	// bbolt maps the pages its meta page counts; reading one past the end
	// of a truncated file is a bus error, not a panic.
	var need int64
	bdb.View(func(tx *bolt.Tx) error { need = tx.Size(); return nil })
	if need > fi.Size() {
		return damaged(l, "is truncated (%d bytes, its pages take %d)", fi.Size(), need)
	}
	if err := checkPages(bdb); err != nil {
		return damaged(l, "cannot be read (%v)", err)
	}
	return nil
}

// checkPages reads every page a lookup can reach, every bucket and key,
// in this goroutine so that a panic on a damaged page is recovered (bbolt's
// own Tx.Check runs in a goroutine of its own, where a panic would end the
// process).
func checkPages(bdb *bolt.DB) (err error) {
	// A fault in the mapped file (the file changed under us) is then a
	// panic recovered below, not the end of the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return bdb.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walkBucket(b) })
	})
}

func walkBucket(b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				return walkBucket(nested)
			}
		}
		return nil
	})
}

// issuedHosts lists the hosts servers/ holds an activated certificate for:
// a "current" link of some family. A host whose only issuance was
// abandoned has a directory but no link, and nothing in the hosts table.
func issuedHosts(l Layout) []string {
	ents, _ := os.ReadDir(l.path("servers"))
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		links, _ := filepath.Glob(filepath.Join(l.ServerDir(e.Name()), "current*"))
		if len(links) > 0 {
			out = append(out, e.Name())
		}
	}
	return out
}

// guardedDB turns a panic of the database driver (bbolt panics on pages a
// check cannot see, such as a damaged value) into an error, so that a
// damaged database fails the command that met it and no panic reaches the
// operator. bbolt rolls its transaction back when a panic unwinds it.
type guardedDB struct {
	nosql.DB
	layout Layout
}

func (g guardedDB) recovered(err *error) {
	if r := recover(); r != nil {
		*err = damaged(g.layout, "made the database driver fail (%v)", r)
	}
}

func (g guardedDB) Get(bucket, key []byte) (v []byte, err error) {
	defer g.recovered(&err)
	return g.DB.Get(bucket, key)
}

func (g guardedDB) Set(bucket, key, value []byte) (err error) {
	defer g.recovered(&err)
	return g.DB.Set(bucket, key, value)
}

func (g guardedDB) CmpAndSwap(bucket, key, oldValue, newValue []byte) (v []byte, swapped bool, err error) {
	defer g.recovered(&err)
	return g.DB.CmpAndSwap(bucket, key, oldValue, newValue)
}

func (g guardedDB) Del(bucket, key []byte) (err error) {
	defer g.recovered(&err)
	return g.DB.Del(bucket, key)
}

func (g guardedDB) List(bucket []byte) (es []*database.Entry, err error) {
	defer g.recovered(&err)
	return g.DB.List(bucket)
}

func (g guardedDB) Update(tx *database.Tx) (err error) {
	defer g.recovered(&err)
	return g.DB.Update(tx)
}

func (g guardedDB) CreateTable(bucket []byte) (err error) {
	defer g.recovered(&err)
	return g.DB.CreateTable(bucket)
}

func (g guardedDB) DeleteTable(bucket []byte) (err error) {
	defer g.recovered(&err)
	return g.DB.DeleteTable(bucket)
}
