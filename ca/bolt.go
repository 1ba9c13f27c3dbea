package ca

import (
	"fmt"
	"os"

	"github.com/smallstep/nosql/database"
	bolt "go.etcd.io/bbolt"
)

// dumpBolt reads every bucket of a bbolt database in the read transaction
// tx, as nosql's driver keeps its tables: one top-level bucket each.
func dumpBolt(tx *bolt.Tx) (dump, error) {
	d := dump{}
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		t := string(name)
		d[t] = []*database.Entry{}
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return fmt.Errorf("bucket %s holds a nested bucket %q, which no table of step-ca or pushca has", t, k)
			}
			d[t] = append(d[t], &database.Entry{Bucket: []byte(t), Key: append([]byte(nil), k...), Value: append([]byte(nil), v...)})
			return nil
		})
	})
	return d, err
}

// writeBolt writes d into a new bbolt file at path (made 0600; an existing
// file is an error) in one transaction, then reads it back and checks each
// table's row count.
func writeBolt(path string, d dump) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("write database %s: the file exists", path)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: dbLockTimeout})
	if err != nil {
		return fmt.Errorf("write database %s: %w", path, err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, t := range d.tables() {
			b, err := tx.CreateBucket([]byte(t))
			if err != nil {
				return fmt.Errorf("table %s: %w", t, err)
			}
			for _, e := range d[t] {
				if err := b.Put(e.Key, e.Value); err != nil {
					return fmt.Errorf("table %s: %w", t, err)
				}
			}
		}
		return nil
	})
	if err == nil {
		err = bdb.View(func(tx *bolt.Tx) error {
			back, err := dumpBolt(tx)
			if err != nil {
				return err
			}
			return sameCounts(d, back)
		})
	}
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write database %s: %w", path, err)
	}
	return nil
}

// sameCounts checks that a copy holds as many rows in each table as what
// it was made from.
func sameCounts(want, got dump) error {
	for t, n := range want.counts() {
		if len(got[t]) != n {
			return fmt.Errorf("table %s holds %d rows after the copy, want %d", t, len(got[t]), n)
		}
	}
	return nil
}
