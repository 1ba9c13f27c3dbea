package ca

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pushca/pushca/internal/atomicfile"
)

// Migration is what Migrate did.
type Migration struct {
	// From and To name the databases as output may print them.
	From string `json:"from"`
	To   string `json:"to"`
	// Rows are the rows copied, by table.
	Rows map[string]int `json:"rows"`
	// Kept says where the source stays: the migrated-from bbolt file,
	// renamed, or the PostgreSQL database, untouched.
	Kept string `json:"kept"`
}

// Migrate copies every table of the state directory's database (step-ca's
// and pushca's) into the database `to` names (a PostgreSQL URL, or "bbolt"
// for the file db/pushca.db) and switches the directory to it: pushca.json
// and every config/ca*.json. It needs no CA password.
//
// The source is read in one consistent view (a bbolt read transaction,
// held until the switch so that no pushca process on the file writes
// meanwhile; a REPEATABLE READ, READ ONLY transaction on PostgreSQL, where
// other operators should stop issuing while it runs: what they write after
// that view is not copied). Each table's rows are counted in the target
// after the copy. A target that already holds a CA's tables is refused
// unless force is set, which replaces those tables' rows (and moves an
// existing db/pushca.db aside). The source is never deleted: a bbolt file
// is renamed to db/pushca.db.migrated-TIME, PostgreSQL tables are left as
// they are. pushca.json is written last, so a crash before it leaves the
// directory on its old database (the next open rewrites config/ca*.json
// back to it).
func Migrate(ctx context.Context, dir, to string, force bool) (Migration, error) {
	l := Layout{Dir: dir}
	st, err := readState(l)
	if err != nil {
		return Migration{}, err
	}
	target, err := CheckDSN(to)
	if err != nil {
		return Migration{}, err
	}
	next := st
	next.DB = target
	m := Migration{From: Layout{Dir: dir, dsn: st.DB}.database(), To: Layout{Dir: dir, dsn: target}.database()}
	if target == st.DB {
		return m, fmt.Errorf("the CA in %s is on %s already", dir, m.To)
	}
	var src dump
	if st.DB == "" {
		if err := checkDB(l); err != nil {
			return m, err
		}
		// A shared lock on the file until the switch: no pushca process
		// writes to it meanwhile.
		bdb, err := openBoltToRead(l)
		if err != nil {
			return m, err
		}
		if bdb != nil {
			defer bdb.Close()
			if err := bdb.View(func(tx *bolt.Tx) error { src, err = dumpBolt(tx); return err }); err != nil {
				return m, fmt.Errorf("read database %s: %w", l.DB(), err)
			}
		}
	} else if src, err = dumpPG(ctx, st.DB); err != nil {
		return m, err
	}
	if hosts := issuedHosts(l); len(hosts) > 0 && len(src[string(inventoryTable)]) == 0 {
		return m, damaged(Layout{Dir: dir, dsn: st.DB}, "records none of the certificates servers/ holds (for %s), so there is nothing to migrate", strings.Join(hosts, ", "))
	}
	if err := ctx.Err(); err != nil {
		return m, err
	}
	if target == "" {
		err = loadBoltTarget(l, src, force)
	} else {
		err = loadPG(ctx, target, src, force)
	}
	if err != nil {
		return m, err
	}
	m.Rows = src.counts()
	if err := syncStepConfigs(l, l, next); err != nil {
		return m, err
	}
	if err := writeState(l, next); err != nil {
		return m, err
	}
	m.Kept = m.From + " (left as it was)"
	if st.DB == "" && src != nil {
		kept := fmt.Sprintf("%s.migrated-%s", l.DB(), time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(l.DB(), kept); err != nil {
			return m, fmt.Errorf("the CA is on %s now, but its old database %s could not be renamed aside: %w", m.To, l.DB(), err)
		}
		m.Kept = kept
	}
	return m, nil
}

// openBoltToRead opens the bbolt file read-only, nil when there is none
// (a CA never opened since init).
func openBoltToRead(l Layout) (*bolt.DB, error) {
	if _, err := os.Stat(l.DB()); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	bdb, err := bolt.Open(l.DB(), 0o600, &bolt.Options{ReadOnly: true, Timeout: dbLockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open database %s: in use by another pushca process (is `pushca serve` running?): %w", l.DB(), err)
	}
	if err != nil {
		return nil, damaged(l, "cannot be opened (%v)", err)
	}
	return bdb, nil
}

// loadBoltTarget writes src as the directory's bbolt file: into a
// temporary file beside it, renamed into place once complete and checked.
// An existing file that holds a CA's tables is refused unless force is
// set, and then moved aside, never deleted.
func loadBoltTarget(l Layout, src dump, force bool) error {
	if err := atomicfile.MkdirAll(filepath.Dir(l.DB())); err != nil {
		return err
	}
	if bdb, err := openBoltToRead(l); err != nil {
		return err
	} else if bdb != nil {
		var held []string
		bdb.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				if n := b.Stats().KeyN; n > 0 {
					held = append(held, fmt.Sprintf("%s (%d rows)", name, n))
				}
				return nil
			})
		})
		bdb.Close()
		if len(held) > 0 && !force {
			return fmt.Errorf("database %s already holds a CA's tables (%s): move it away, or give --force to move it aside", l.DB(), strings.Join(held, ", "))
		}
		aside := fmt.Sprintf("%s.replaced-%s", l.DB(), time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(l.DB(), aside); err != nil {
			return fmt.Errorf("move %s aside: %w", l.DB(), err)
		}
	}
	tmp := l.DB() + ".migrate-tmp"
	os.Remove(tmp) // a crashed migration's
	if err := writeBolt(tmp, src); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, l.DB()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("move the new database into %s: %w", l.DB(), err)
	}
	return atomicfile.SyncDir(filepath.Dir(l.DB()))
}
