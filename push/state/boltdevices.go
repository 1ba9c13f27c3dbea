package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var _ Devices = (*BoltDevices)(nil)

var devicesBucket = []byte("devices")

// BoltDevices keeps device records in memory and in a bbolt file, so a restart
// keeps policy keys, sync keys and Ping history. Protocol state (Update) is
// on disk before the caller answers the device; what the server merely
// observes (Note: Ping history, the Ping cache, user agent, last seen) is
// written behind, so a broadcast's answers never wait for, or compete
// with, one disk write each.
type BoltDevices struct {
	db  *bolt.DB
	log *slog.Logger
	// perUser caps the records of one user; below 1, no cap.
	perUser int
	// onEvict, when set, is told of every record the cap drops.
	onEvict func()
	// alert decides the low-heartbeat warning; its Samples is also how many
	// Pings a record keeps.
	alert HeartbeatAlert

	// mu guards the map and dirty only, so that reads (a waking Ping)
	// never wait for a disk flush. A record in m is never changed in
	// place: a change stores a new one, so a writer may marshal a record
	// it took under mu after letting go of mu.
	mu     sync.Mutex
	m      map[string]*Device
	byUser map[string]map[string]bool // user → keys of m
	dirty  map[string]bool            // noted or evicted, not yet written

	kick    chan struct{} // a note is waiting (capacity 1)
	stop    chan struct{} // Close asks the writer to finish
	stopped chan error    // the writer's last flush
	once    sync.Once
}

// batchDelay is how long an Update waits for others to share its
// transaction: one fsync each would queue a burst of them for seconds.
const batchDelay = 2 * time.Millisecond

func deviceKey(user, id string) string { return user + "\x00" + id }

// OpenBoltDevices opens (creating it if needed) the device database at path.
// A second server on the same state directory fails here instead of
// waiting forever for the file lock.
func OpenBoltDevices(path string, log *slog.Logger) (*BoltDevices, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open device database %s (is another pushca serve running?): %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	d := &BoltDevices{
		db: db, log: log, perUser: DefaultDevicesPerUser, alert: DefaultHeartbeatAlert(), m: map[string]*Device{}, byUser: map[string]map[string]bool{}, dirty: map[string]bool{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan error, 1),
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(devicesBucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var dev Device
			if err := json.Unmarshal(v, &dev); err != nil {
				return fmt.Errorf("device record %q: %w", k, err)
			}
			d.m[string(k)] = &dev
			d.indexLocked(dev.User, string(k))
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("read device database %s: %w", path, err)
	}
	go func() { d.stopped <- WriteBehind(d.kick, d.stop, d.flush, d.log) }()
	return d, nil
}

// SetRules sets the cap on one user's records (below 1, none) and the
// heartbeat alert, which also bounds the Ping history kept. Call it, and
// OnEvict, before the records are used.
func (d *BoltDevices) SetRules(perUser int, alert HeartbeatAlert) {
	d.perUser, d.alert = perUser, alert
}

var _ EvictionCounter = (*BoltDevices)(nil)

// OnEvict implements EvictionCounter.
func (d *BoltDevices) OnEvict(fn func()) { d.onEvict = fn }

// ErrDevicesInUse says a running pushca serve holds the device database:
// its records are to be had from its admin API instead.
var ErrDevicesInUse = errors.New("the device database is held by a running pushca serve")

// ReadBoltDevices returns the records of the device database at path, opened
// read-only, ordered as List orders them; a missing file holds none. It
// waits at most a second for the lock, and a file a running server holds
// is ErrDevicesInUse, so that a command can ask that server rather than
// wait for it to stop.
func ReadBoltDevices(path string) ([]Device, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("read device database %s: %w", path, ErrDevicesInUse)
	case err != nil:
		return nil, fmt.Errorf("read device database %s: %w", path, err)
	}
	defer db.Close()
	var out []Device
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(devicesBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var dev Device
			if err := json.Unmarshal(v, &dev); err != nil {
				return fmt.Errorf("device record %q: %w", k, err)
			}
			out = append(out, dev)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read device database %s: %w", path, err)
	}
	// The keys are user NUL id, so the bucket's order is List's.
	return out, nil
}

// Close writes what was noted and closes the database file.
func (d *BoltDevices) Close() error {
	var err error
	d.once.Do(func() {
		close(d.stop)
		err = errors.Join(<-d.stopped, d.db.Close())
	})
	return err
}

// Get returns a copy of a device record.
func (d *BoltDevices) Get(ctx context.Context, user, id string) (Device, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dev, ok := d.m[deviceKey(user, id)]
	if !ok {
		return Device{}, false, nil
	}
	return dev.Clone(), true, nil
}

// Peek returns the stored record itself: records are never changed in
// place, so it stays as it is while the caller looks, and the hot paths of
// a Ping skip Get's copy of the whole Ping history.
func (d *BoltDevices) Peek(ctx context.Context, user, id string) (*Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dev := d.m[deviceKey(user, id)]; dev != nil {
		return dev, nil
	}
	return &Device{}, nil
}

// List returns copies of every record, ordered by user and device id.
func (d *BoltDevices) List(ctx context.Context) ([]Device, error) {
	d.mu.Lock()
	out := make([]Device, 0, len(d.m))
	for _, dev := range d.m {
		out = append(out, dev.Clone())
	}
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Update applies fn to the record of (user, id), creating it when missing,
// stamps LastSeen and writes it to disk before returning the new record.
// On a write error the in-memory record is put back as it was.
func (d *BoltDevices) Update(ctx context.Context, user, id string, fn func(*Device)) (Device, error) {
	k := deviceKey(user, id)
	d.mu.Lock()
	prev := d.m[k]
	dev := Changed(prev, user, id, fn)
	evicted := d.storeLocked(k, dev)
	d.mu.Unlock()
	d.evicted(evicted)
	// Concurrent writes share one transaction (one fsync). Each writes the
	// record as the map holds it at commit time, so whatever order the
	// transactions commit in, the disk ends where the map is.
	err := d.db.Batch(func(tx *bolt.Tx) error {
		d.mu.Lock()
		cur := d.m[k]
		d.mu.Unlock()
		return putDevice(tx.Bucket(devicesBucket), k, cur)
	})
	if err != nil {
		d.mu.Lock()
		if d.m[k] == dev {
			if prev != nil {
				d.m[k] = prev
			} else {
				d.removeLocked(k, user)
			}
		}
		d.mu.Unlock()
		return Device{}, fmt.Errorf("save device %s/%s: %w", user, id, err)
	}
	return dev.Clone(), nil
}

// Note applies fn like Update but returns without waiting for the disk: the
// record is written behind, within MaxNoteDelay, with every other note. fn
// may run more than once, on a fresh copy each time.
func (d *BoltDevices) Note(ctx context.Context, user, id string, fn func(*Device)) (Device, error) {
	return d.noteAs(user, id, true, fn).Clone(), nil
}

// NotePing notes the Ping's cache without the copy Note returns.
func (d *BoltDevices) NotePing(user, id string, heartbeat int, folders []string) {
	d.noteAs(user, id, true, func(dev *Device) { dev.Heartbeat, dev.Folders = heartbeat, folders })
}

// noteAs is Note returning the stored record itself, to read only. Unless
// create, it changes only a record that exists and returns nil when there
// is none.
func (d *BoltDevices) noteAs(user, id string, create bool, fn func(*Device)) *Device {
	k := deviceKey(user, id)
	// Copy and change outside the lock, and store only if nobody stored
	// meanwhile: a broadcast notes thousands of Pings at once, and a copy
	// made under the lock (allocating, so sometimes helping the garbage
	// collector) held every other answer up.
	for {
		d.mu.Lock()
		prev := d.m[k]
		d.mu.Unlock()
		if prev == nil && !create {
			return nil
		}
		dev := Changed(prev, user, id, fn)
		d.mu.Lock()
		if d.m[k] != prev {
			d.mu.Unlock()
			continue
		}
		evicted := d.storeLocked(k, dev)
		d.dirty[k] = true
		d.mu.Unlock()
		d.evicted(evicted)
		select {
		case d.kick <- struct{}{}:
		default:
		}
		return dev
	}
}

// storeLocked puts dev under k; a new record beyond the user's cap
// evicts the user's records seen longest ago, which it returns. An
// evicted record is marked dirty, for the writer to delete.
func (d *BoltDevices) storeLocked(k string, dev *Device) []*Device {
	_, known := d.m[k]
	d.m[k] = dev
	if known {
		return nil
	}
	d.indexLocked(dev.User, k)
	var out []*Device
	for keys := d.byUser[dev.User]; d.perUser > 0 && len(keys) > d.perUser; {
		var oldest string
		for o := range keys {
			if o != k && (oldest == "" || d.m[o].LastSeen.Before(d.m[oldest].LastSeen)) {
				oldest = o
			}
		}
		out = append(out, d.m[oldest])
		d.removeLocked(oldest, dev.User)
		d.dirty[oldest] = true
	}
	if len(out) > 0 {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
	return out
}

func (d *BoltDevices) indexLocked(user, k string) {
	if d.byUser[user] == nil {
		d.byUser[user] = map[string]bool{}
	}
	d.byUser[user][k] = true
}

func (d *BoltDevices) removeLocked(k, user string) {
	delete(d.m, k)
	delete(d.byUser[user], k)
	if len(d.byUser[user]) == 0 {
		delete(d.byUser, user)
	}
}

// evicted counts and logs the records storeLocked evicted.
func (d *BoltDevices) evicted(devs []*Device) {
	for _, dev := range devs {
		if d.onEvict != nil {
			d.onEvict()
		}
		d.log.Info("device record dropped: the user has more devices than the per-user limit; the one seen longest ago goes",
			"user", dev.User, "device", dev.ID, "last_seen", dev.LastSeen, "limit", d.perUser)
	}
}

// putDevice writes the record of k, or deletes it when there is none
// (evicted).
func putDevice(b *bolt.Bucket, k string, dev *Device) error {
	if dev == nil {
		return b.Delete([]byte(k))
	}
	data, err := json.Marshal(dev)
	if err != nil {
		return err
	}
	return b.Put([]byte(k), data)
}

// flush writes every noted record in one transaction. On failure the
// records stay noted, for the next note or Close to try again.
func (d *BoltDevices) flush() error {
	d.mu.Lock()
	keys, recs := make([]string, 0, len(d.dirty)), make([]*Device, 0, len(d.dirty))
	for k := range d.dirty {
		keys, recs = append(keys, k), append(recs, d.m[k])
	}
	clear(d.dirty)
	d.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(devicesBucket)
		for i, k := range keys {
			if err := putDevice(b, k, recs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		d.mu.Lock()
		for _, k := range keys {
			d.dirty[k] = true
		}
		d.mu.Unlock()
		return fmt.Errorf("save %d device records: %w", len(keys), err)
	}
	return nil
}

// LogPing appends a finished Ping to the device's history and warns once
// each time the heartbeats trip the alert. A record evicted
// while its Ping was held is not made again for the Ping's sake.
func (d *BoltDevices) LogPing(user, id string, p PingLog) {
	var warn bool
	dev := d.noteAs(user, id, false, func(dev *Device) { warn = d.alert.AddPing(dev, p) })
	if dev != nil && warn {
		d.log.Warn("average heartbeat is low: something on the path probably cuts idle connections; firewall and NAT idle timeouts should be 15 minutes or more (KB 905013)",
			"user", user, "device", id, "average_s", dev.AverageHeartbeat(), "pings", len(dev.Pings), "threshold_s", d.alert.Threshold)
	}
}
