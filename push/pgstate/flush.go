package pgstate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushca/pushca/push/state"
)

// flushChunk bounds the records one flush transaction writes: readers
// wait for a transaction in progress (see devices.flushing).
const flushChunk = 100

// flush writes every pending note, a chunk of records per transaction.
// A chunk that fails keeps its notes, for the next flush.
func (d *devices) flush() error {
	d.mu.Lock()
	keys := make([]key, 0, len(d.pending))
	for k := range d.pending {
		keys = append(keys, k)
	}
	d.mu.Unlock()
	// One order on every endpoint, so that two flushes never wait on each
	// other's row locks in a cycle.
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.id, b.id)) })
	var errs []error
	for chunk := range slices.Chunk(keys, flushChunk) {
		if err := d.flushKeys(chunk); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *devices) flushKeys(keys []key) error {
	d.flushing.Lock()
	defer d.flushing.Unlock()
	d.mu.Lock()
	taken := make([][]note, len(keys))
	for i, k := range keys {
		taken[i] = d.pending[k]
	}
	d.mu.Unlock()
	// Background: notes written at Close must land although whatever
	// asked for them is gone.
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, d.db.pool, func(tx pgx.Tx) error { return d.changeAll(ctx, tx, keys, taken) })
	if err != nil {
		return fmt.Errorf("save %d device records: %w", len(keys), err)
	}
	d.mu.Lock()
	for i, k := range keys {
		// Notes made during the transaction came after the taken ones.
		if rest := d.pending[k][len(taken[i]):]; len(rest) > 0 {
			d.pending[k] = rest
		} else {
			delete(d.pending, k)
		}
	}
	d.mu.Unlock()
	return nil
}

// lockRowsSQL reads and locks the stored rows of many records in one
// statement. Rows lock in the order they are sorted, byte order as the
// keys of a flush are, so that two endpoints' flushes never wait on each
// other in a cycle.
const lockRowsSQL = `
SELECT d.user_name, d.id, d.record
FROM pushca_push_devices d
JOIN unnest($1::text[], $2::text[]) AS k(user_name, id) ON d.user_name = k.user_name AND d.id = k.id
ORDER BY d.user_name COLLATE "C", d.id COLLATE "C"
FOR UPDATE OF d`

// saveRowsSQL writes back, in one statement, rows locked by lockRowsSQL.
const saveRowsSQL = `
UPDATE pushca_push_devices d SET record = v.record::jsonb, last_seen = v.last_seen
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS v(user_name, id, record, last_seen)
WHERE d.user_name = v.user_name AND d.id = v.id`

// changeAll is change for the records of keys, notes[i] on keys[i], in
// two round trips whatever their number: a round trip per record made a
// chunk hold back the reads for as many round trips as it has records. A
// record not stored yet goes through change, which inserts it under the
// user's cap.
func (d *devices) changeAll(ctx context.Context, tx pgx.Tx, keys []key, notes [][]note) error {
	users, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		users[i], ids[i] = k.user, k.id
	}
	stored, err := d.lockRows(ctx, tx, users, ids)
	if err != nil {
		return err
	}
	var (
		records []string
		seen    []time.Time
	)
	users, ids = users[:0], ids[:0]
	for i, k := range keys {
		prev, ok := stored[k]
		if !ok {
			if _, err := d.change(ctx, tx, k, notes[i]); err != nil {
				return err
			}
			continue
		}
		dev := apply(prev, k, notes[i])
		data, err := json.Marshal(dev)
		if err != nil {
			return err
		}
		d.warnLow(k, prev, dev)
		users, ids = append(users, k.user), append(ids, k.id)
		records, seen = append(records, string(data)), append(seen, dev.LastSeen)
	}
	if len(users) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, saveRowsSQL, users, ids, records, seen); err != nil {
		return d.db.wrap(fmt.Sprintf("save %d device records", len(users)), err)
	}
	return nil
}

// lockRows reads and locks the stored rows among users[i]/ids[i].
func (d *devices) lockRows(ctx context.Context, tx pgx.Tx, users, ids []string) (map[key]*state.Device, error) {
	rows, err := tx.Query(ctx, lockRowsSQL, users, ids)
	if err != nil {
		return nil, d.db.wrap(fmt.Sprintf("read %d device records", len(users)), err)
	}
	defer rows.Close()
	stored := make(map[key]*state.Device, len(users))
	for rows.Next() {
		var (
			k    key
			data []byte
		)
		if err := rows.Scan(&k.user, &k.id, &data); err != nil {
			return nil, d.db.wrap(fmt.Sprintf("read %d device records", len(users)), err)
		}
		var dev state.Device
		if err := json.Unmarshal(data, &dev); err != nil {
			return nil, fmt.Errorf("device record %s/%s: %w", k.user, k.id, err)
		}
		stored[k] = &dev
	}
	if err := rows.Err(); err != nil {
		return nil, d.db.wrap(fmt.Sprintf("read %d device records", len(users)), err)
	}
	return stored, nil
}
