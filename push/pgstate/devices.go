package pgstate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushca/pushca/push/state"
)

// devices keeps the records in pushca_push_devices, read through: another
// endpoint may have changed a record a moment ago. Update writes in a
// transaction that locks the row; a note is kept here as the change it
// makes (fn), applied on top of the row by every read until a flush
// applies it to the row under the same lock, so a note never overwrites
// what another endpoint updated meanwhile.
type devices struct {
	db      *DB
	perUser int
	alert   state.HeartbeatAlert
	// onEvict, when set, is told of every record the cap drops.
	onEvict func()

	// flushing is held by a flush while it commits and drops the notes
	// it wrote, so that a read never sees a note both in the row and here.
	flushing sync.RWMutex

	mu      sync.Mutex
	pending map[key][]note

	kick    chan struct{} // a note is waiting (capacity 1)
	stop    chan struct{}
	stopped chan error
	once    sync.Once
}

type key struct{ user, id string }

// note is a change written behind; unless create, it changes only a
// record that exists.
type note struct {
	create bool
	fn     func(*state.Device)
}

var (
	_ state.Devices         = (*devices)(nil)
	_ state.EvictionCounter = (*devices)(nil)
)

// OnEvict implements state.EvictionCounter. A record counted is dropped in
// a transaction that may yet fail to commit, which the log then says.
func (d *devices) OnEvict(fn func()) { d.onEvict = fn }

func newDevices(db *DB) *devices {
	d := &devices{
		db: db, perUser: state.DefaultDevicesPerUser, alert: state.DefaultHeartbeatAlert(), pending: map[key][]note{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan error, 1),
	}
	go func() { d.stopped <- state.WriteBehind(d.kick, d.stop, d.flush, d.db.log) }()
	return d
}

// SetDeviceRules sets the cap on one user's records (below 1, none) and
// the heartbeat alert, which also bounds the Ping history kept. Call it
// before the records are used.
func (db *DB) SetDeviceRules(perUser int, alert state.HeartbeatAlert) {
	db.devices.perUser, db.devices.alert = perUser, alert
}

// apply returns row with the notes applied, nil when there is no record.
func apply(row *state.Device, k key, notes []note) *state.Device {
	for _, n := range notes {
		if row == nil && !n.create {
			continue
		}
		row = state.Changed(row, k.user, k.id, n.fn)
	}
	return row
}

// read returns the record as this endpoint sees it: the row with the
// notes not yet written applied.
func (d *devices) read(ctx context.Context, k key) (*state.Device, error) {
	d.flushing.RLock()
	defer d.flushing.RUnlock()
	row, err := d.row(ctx, d.db.pool, k, "")
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	notes := d.pending[k]
	d.mu.Unlock()
	return apply(row, k, notes), nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// row reads the stored record of k, nil when there is none; lock is
// appended to the query (" FOR UPDATE" in a transaction).
func (d *devices) row(ctx context.Context, q querier, k key, lock string) (*state.Device, error) {
	var data []byte
	err := q.QueryRow(ctx, "SELECT record FROM pushca_push_devices WHERE user_name = $1 AND id = $2"+lock, k.user, k.id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, d.db.wrap(fmt.Sprintf("read device %s/%s", k.user, k.id), err)
	}
	var dev state.Device
	if err := json.Unmarshal(data, &dev); err != nil {
		return nil, fmt.Errorf("device record %s/%s: %w", k.user, k.id, err)
	}
	return &dev, nil
}

// change applies notes to the row of k in tx, under its lock, and writes
// the result; a new record beyond the user's cap evicts the user's
// records seen longest ago. A row another endpoint inserts meanwhile is
// read and changed instead of overwritten.
func (d *devices) change(ctx context.Context, tx pgx.Tx, k key, notes []note) (*state.Device, error) {
	for {
		prev, err := d.row(ctx, tx, k, " FOR UPDATE")
		if err != nil {
			return nil, err
		}
		dev := apply(prev, k, notes)
		if dev == nil {
			return nil, nil
		}
		data, err := json.Marshal(dev)
		if err != nil {
			return nil, err
		}
		d.warnLow(k, prev, dev)
		if prev != nil {
			_, err := tx.Exec(ctx, "UPDATE pushca_push_devices SET record = $3, last_seen = $4 WHERE user_name = $1 AND id = $2", k.user, k.id, data, dev.LastSeen)
			if err != nil {
				return nil, d.db.wrap(fmt.Sprintf("save device %s/%s", k.user, k.id), err)
			}
			return dev, nil
		}
		tag, err := tx.Exec(ctx, "INSERT INTO pushca_push_devices (user_name, id, record, last_seen) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", k.user, k.id, data, dev.LastSeen)
		if err != nil {
			return nil, d.db.wrap(fmt.Sprintf("save device %s/%s", k.user, k.id), err)
		}
		if tag.RowsAffected() == 1 {
			return dev, d.evict(ctx, tx, k)
		}
	}
}

// warnLow warns when dev, about to be written over prev, has just
// crossed the heartbeat alert.
func (d *devices) warnLow(k key, prev, dev *state.Device) {
	if dev.LowWarned && (prev == nil || !prev.LowWarned) {
		d.db.log.Warn("average heartbeat is low: something on the path probably cuts idle connections; firewall and NAT idle timeouts should be 15 minutes or more (KB 905013)",
			"user", k.user, "device", k.id, "average_s", dev.AverageHeartbeat(), "pings", len(dev.Pings), "threshold_s", d.alert.Threshold)
	}
}

// evict drops the user's records beyond the cap, the one seen longest ago
// first, never the one just made.
func (d *devices) evict(ctx context.Context, tx pgx.Tx, k key) error {
	if d.perUser < 1 {
		return nil
	}
	rows, err := tx.Query(ctx, `
		DELETE FROM pushca_push_devices WHERE user_name = $1 AND id IN (
			SELECT id FROM pushca_push_devices WHERE user_name = $1 AND id <> $2
			ORDER BY last_seen DESC, id OFFSET $3)
		RETURNING id, last_seen`, k.user, k.id, d.perUser-1)
	if err != nil {
		return d.db.wrap("drop "+k.user+"'s oldest devices", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   string
			seen time.Time
		)
		if err := rows.Scan(&id, &seen); err != nil {
			return d.db.wrap("drop "+k.user+"'s oldest devices", err)
		}
		d.db.log.Info("device record dropped: the user has more devices than the per-user limit; the one seen longest ago goes",
			"user", k.user, "device", id, "last_seen", seen, "limit", d.perUser)
		if d.onEvict != nil {
			d.onEvict()
		}
	}
	return rows.Err()
}

// Peek implements state.PingDevices. The record is read for the caller
// alone, so it may keep it.
func (d *devices) Peek(ctx context.Context, user, id string) (*state.Device, error) {
	dev, err := d.read(ctx, key{user, id})
	if dev == nil && err == nil {
		dev = &state.Device{}
	}
	return dev, err
}

// Get implements state.Devices.
func (d *devices) Get(ctx context.Context, user, id string) (state.Device, bool, error) {
	dev, err := d.read(ctx, key{user, id})
	if dev == nil || err != nil {
		return state.Device{}, false, err
	}
	return *dev, true, nil
}

// List implements state.Devices.
func (d *devices) List(ctx context.Context) ([]state.Device, error) {
	d.flushing.RLock()
	defer d.flushing.RUnlock()
	rows, err := d.db.pool.Query(ctx, "SELECT record FROM pushca_push_devices")
	if err != nil {
		return nil, d.db.wrap("list the devices", err)
	}
	seen := map[key]*state.Device{}
	for rows.Next() {
		var dev state.Device
		if err := rows.Scan(&dev); err != nil {
			rows.Close()
			return nil, d.db.wrap("list the devices", err)
		}
		seen[key{dev.User, dev.ID}] = &dev
	}
	if err := rows.Err(); err != nil {
		return nil, d.db.wrap("list the devices", err)
	}
	d.mu.Lock()
	for k, notes := range d.pending {
		seen[k] = apply(seen[k], k, notes)
	}
	d.mu.Unlock()
	out := make([]state.Device, 0, len(seen))
	for _, dev := range seen {
		if dev != nil {
			out = append(out, *dev)
		}
	}
	slices.SortFunc(out, func(a, b state.Device) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Update implements state.Devices: the record is committed before it is
// returned. Notes not yet written stay notes: they are observations,
// which no update touches, so they may land after it.
func (d *devices) Update(ctx context.Context, user, id string, fn func(*state.Device)) (state.Device, error) {
	d.flushing.RLock()
	defer d.flushing.RUnlock()
	k := key{user, id}
	var dev *state.Device
	err := pgx.BeginFunc(ctx, d.db.pool, func(tx pgx.Tx) error {
		var err error
		dev, err = d.change(ctx, tx, k, []note{{create: true, fn: fn}})
		return err
	})
	if err != nil {
		return state.Device{}, fmt.Errorf("update device %s/%s: %w", user, id, err)
	}
	d.mu.Lock()
	notes := d.pending[k]
	d.mu.Unlock()
	return *apply(dev, k, notes), nil
}

// Note implements state.Devices.
func (d *devices) Note(ctx context.Context, user, id string, fn func(*state.Device)) (state.Device, error) {
	d.note(user, id, note{create: true, fn: fn})
	dev, err := d.read(ctx, key{user, id})
	if err != nil {
		return state.Device{}, err
	}
	return *dev, nil
}

// NotePing implements state.PingDevices.
func (d *devices) NotePing(user, id string, heartbeat int, folders []string) {
	d.note(user, id, note{create: true, fn: func(dev *state.Device) { dev.Heartbeat, dev.Folders = heartbeat, folders }})
}

// LogPing implements state.PingDevices. The alert is judged on the record
// as the note is written, and warned of then (see change): a read applies
// the note too, and must not warn.
func (d *devices) LogPing(user, id string, p state.PingLog) {
	d.note(user, id, note{fn: func(dev *state.Device) { d.alert.AddPing(dev, p) }})
}

func (d *devices) note(user, id string, n note) {
	d.mu.Lock()
	k := key{user, id}
	d.pending[k] = append(d.pending[k], n)
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// close flushes what is noted and stops the writer.
func (d *devices) close() error {
	var err error
	d.once.Do(func() {
		close(d.stop)
		err = <-d.stopped
	})
	return err
}

// Close implements state.Devices: the notes are written; the pool stays
// open until DB.Close.
func (d *devices) Close() error { return d.close() }
