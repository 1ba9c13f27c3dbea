package state

import (
	"context"
	"time"
)

// Mailbox is the test mailbox: per user, folders of messages. A folder's
// sequence starts at 0 and grows with every message stored in it, so a
// device that has seen a smaller value has changes waiting. Folder ids are
// the caller's; a folder never written to is at 0 and holds nothing.
type Mailbox interface {
	// Deliver stores m in user's folder, giving it an id unique in the
	// store, the folder's next sequence and, when zero, the time now, and
	// returns it as stored. Before it returns, the change is raised as
	// FolderChanged to this process's subscribers; a store shared with
	// other endpoints raises it to theirs too.
	Deliver(ctx context.Context, user, folder string, m Message) (Message, error)
	// Since returns the folder's messages newer than seq, oldest first,
	// and the folder's current sequence. A store may keep only the newest
	// messages of a folder.
	Since(ctx context.Context, user, folder string, seq uint64) ([]Message, uint64, error)
	// Seqs returns, for each of users, the sequence of each folder above 0.
	Seqs(ctx context.Context, users []string) (map[string]map[string]uint64, error)
}

// Feed tells subscribers what changed, on this endpoint or another sharing
// the store.
type Feed interface {
	// Subscribe has fn called with every change raised from now on until
	// stop returns. fn runs on the goroutine that raised the change (a
	// Deliver, a Publish, the store's listener), with the raiser's ctx,
	// one change at a time per raiser, so it must not block; it may call
	// the Mailbox for a Resync only, which no Mailbox call raises. It must
	// not call Subscribe or stop.
	Subscribe(fn func(ctx context.Context, c Change)) (stop func())
	// Publish raises c to the subscribers of every endpoint sharing the
	// store, this one's included; its Origin says whose it is.
	Publish(ctx context.Context, c Change) error
}

// Store is a mailbox with its change feed.
type Store interface {
	Mailbox
	Feed
}

// ChangeKind says what a Change reports.
type ChangeKind uint8

const (
	// FolderChanged: User's Folder is now at Seq. Sequences only grow, so
	// a subscriber that sees an older Seq after a newer one keeps the
	// newer; a change raised once may be raised again.
	FolderChanged ChangeKind = iota + 1
	// Resync: changes may have been lost (the store's listener was cut
	// off and is back); whoever waits on a folder reads Seqs again. A
	// store that never loses a change never raises it.
	Resync
	// PingHeld: a Ping of User's Device was parked at At by the endpoint
	// Origin. Since a device has one outstanding Ping, any other endpoint
	// holding an older one of that device ends it.
	PingHeld
)

// Change is one event of a Feed. The fields a kind does not name are zero.
type Change struct {
	Kind   ChangeKind
	User   string
	Folder string
	Seq    uint64
	Device string
	Origin string
	At     time.Time
}

// PingDevices is what the Ping machinery needs of the device records. The
// two writes are observations, written behind: they never make a Ping's
// answer wait for a disk or a database, and a store logs their failures
// itself.
type PingDevices interface {
	// Peek returns the record of (user, id), an empty one when there is
	// none, to read only: the caller must not change it, and a store may
	// hand the same record to others.
	Peek(ctx context.Context, user, id string) (*Device, error)
	// NotePing remembers a valid Ping's heartbeat and folders, which an
	// empty Ping reuses, creating the record when missing.
	NotePing(user, id string, heartbeat int, folders []string)
	// LogPing adds a finished Ping to the history of an existing record;
	// a record dropped meanwhile is not made again.
	LogPing(user, id string, p PingLog)
}

// Devices keeps one record per device of each user, so that policy keys,
// sync keys and Ping history outlive a restart. Records are kept as
// Changed makes them, history as HeartbeatAlert.AddPing keeps it, and a
// user's records beyond the store's cap go, the one seen longest ago
// first.
type Devices interface {
	PingDevices
	// Get returns a copy of a record.
	Get(ctx context.Context, user, id string) (Device, bool, error)
	// List returns copies of every record, ordered by user and device id.
	List(ctx context.Context) ([]Device, error)
	// Update applies fn to the record (a new one when missing), stamps
	// LastSeen and stores it before returning it: protocol state the
	// device is about to be told must survive a crash.
	Update(ctx context.Context, user, id string, fn func(*Device)) (Device, error)
	// Note is Update written behind, for what the server merely observes;
	// fn may run more than once, on a fresh copy each time. Its error is
	// a failure to read the record, never to write it.
	Note(ctx context.Context, user, id string, fn func(*Device)) (Device, error)
	// Close writes what was noted and releases the store.
	Close() error
}

// EvictionCounter is a Devices that tells when its per-user cap drops a
// record, for the server's metrics: OnEvict has fn called for each. Call
// it before the records are used.
type EvictionCounter interface {
	OnEvict(fn func())
}
