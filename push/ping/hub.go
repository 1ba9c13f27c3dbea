package ping

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/state"
)

// Exchange 2007/2010's heartbeat bounds, seconds.
const (
	DefaultHeartbeatMin = 60
	DefaultHeartbeatMax = 3540
)

// maxPingFolders is ours; Exchange's own limit is configurable too.
const maxPingFolders = 100

// InboxID is the Inbox's folder id, where Deliver puts test messages.
const InboxID = "1"

const folderClassEmail = "Email"

// Folder is one folder of the fixed hierarchy every mailbox has.
type Folder struct {
	ID    string         `json:"id"`
	Name  string         `json:"name"`
	Class string         `json:"class"`
	Type  eas.FolderType `json:"type"`
}

// Folders returns the standard hierarchy, top-level folders (ParentId 0).
func Folders() []Folder {
	return []Folder{
		{InboxID, "Inbox", folderClassEmail, eas.FolderInbox},
		{"2", "Drafts", folderClassEmail, eas.FolderDrafts},
		{"3", "Deleted Items", folderClassEmail, eas.FolderDeleted},
		{"4", "Sent Items", folderClassEmail, eas.FolderSent},
		{"5", "Outbox", folderClassEmail, eas.FolderOutbox},
		{"6", "Calendar", "Calendar", eas.FolderCalendar},
		{"7", "Contacts", "Contacts", eas.FolderContacts},
		{"8", "Tasks", "Tasks", eas.FolderTasks},
	}
}

// IsFolder says whether id names a folder of the hierarchy.
func IsFolder(id string) bool {
	return slices.ContainsFunc(Folders(), func(f Folder) bool { return f.ID == id })
}

// HeartbeatBounds are the heartbeats (seconds) a Ping may ask for.
type HeartbeatBounds struct{ Min, Max int }

// Validate says whether the bounds make sense.
func (b HeartbeatBounds) Validate() error {
	if b.Min < 1 || b.Max < b.Min {
		return fmt.Errorf("heartbeat bounds %d-%d s: need 1 <= min <= max", b.Min, b.Max)
	}
	return nil
}

// Request is a parsed Ping. Zero Heartbeat and nil Folders mean absent:
// the device's cached values are used.
type Request struct {
	Heartbeat int
	Folders   []string
}

// Result is the answer to a Ping. Folders lists changed folders (Status
// 2); Heartbeat the allowed bound (Status 5); MaxFolders the limit (Status 6).
type Result struct {
	Status     eas.PingStatus
	Folders    []string
	Heartbeat  int
	MaxFolders int
	// Outcome is how the Ping ended, for the device record.
	Outcome string
}

// How a Ping ended, as recorded per device (state.PingLog.Outcome).
const (
	Changes    = "changes"    // Status 2
	Expired    = "expired"    // Status 1, the heartbeat ran out
	Superseded = "superseded" // Status 1, a newer Ping from the same device
	Shutdown   = "shutdown"   // Status 1, the server stopped
	Cut        = "cut"        // the connection went away before the heartbeat ended
	Evicted    = "evicted"    // Status 1, the user held more Pings than allowed
)

// deviceKey keys the held Pings, one per device.
func deviceKey(user, id string) string { return user + "\x00" + id }

// heldPing is a parked Ping: data only, no goroutine. Whoever ends it
// (a delivery, its timer, a newer Ping, the hub closing, the connection
// going away) takes it out of the hub under mu and answers it once.
type heldPing struct {
	user, device string
	folders      []string
	// seen is, for each of folders, the sequence the device had synced
	// when the Ping came: a folder past it has changes for the device.
	seen      []uint64
	heartbeat int
	start     time.Time
	timer     *time.Timer
	answer    func(Result)
	ended     bool // under Hub.mu
	// done is closed once the answer is written and the Ping recorded.
	done chan struct{}
}

// Hub holds every parked Ping: it parks them, ends them, and wakes them
// on the changes its store's feed raises, which come from this endpoint's
// deliveries and, for a shared store, from every other endpoint's.
type Hub struct {
	devices state.PingDevices
	mail    state.Store
	// id names this hub on the feed, so it knows its own PingHeld.
	id         string
	stopFeed   func()
	bounds     HeartbeatBounds
	maxFolders int
	// perUser caps one user's held Pings (see SetPerUser); below 1, no cap.
	perUser int
	log     *slog.Logger
	// counters counts Ping endings, evictions and pushes.
	counters Counters
	// heard counts the folder changes and resyncs heard, so a Hold knows
	// whether one came while it read the sequences without its Ping parked.
	heard atomic.Uint64

	mu   sync.Mutex
	held map[string]*heldPing // by deviceKey
	// byUser indexes held by user, so a change looks at that user's
	// devices only, however many Pings are held.
	byUser map[string]map[*heldPing]bool
	closed bool
	// answering counts answers under way, so Close can wait for them.
	answering sync.WaitGroup

	// qmu guards the answers queued for the answerers, apart from mu so a
	// change still waking Pings does not hold them up.
	qmu       sync.Mutex
	queue     []answerJob
	answerers int
}

// NewHub returns a hub recording Pings in devices and waking them on
// mail's changes, until Close.
func NewHub(devices state.PingDevices, mail state.Store, bounds HeartbeatBounds, log *slog.Logger) (*Hub, error) {
	if err := bounds.Validate(); err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	rand.Read(id)
	h := &Hub{
		devices: devices, mail: mail, id: hex.EncodeToString(id), bounds: bounds, maxFolders: maxPingFolders, perUser: state.DefaultDevicesPerUser, log: log, counters: noCounters{},
		held: map[string]*heldPing{}, byUser: map[string]map[*heldPing]bool{},
	}
	h.stopFeed = mail.Subscribe(h.hear)
	return h, nil
}

// Counters counts what a hub does, for the server's metrics (package
// ops), which the hub must not know of: it imports this package.
type Counters interface {
	// PingEnded counts a Ping answered, by how it ended (Changes...).
	PingEnded(outcome string)
	// PingEvicted counts a held Ping ended to keep its user within the
	// per-user limit.
	PingEvicted()
	// Pushed counts a test message delivered.
	Pushed()
}

type noCounters struct{}

func (noCounters) PingEnded(string) {}
func (noCounters) PingEvicted()     {}
func (noCounters) Pushed()          {}

// SetCounters has c count what the hub does from now on; call it before
// the hub holds a Ping.
func (h *Hub) SetCounters(c Counters) { h.counters = c }

// SetPerUser caps one user's held Pings at n, the oldest going first; below
// 1, no cap. The default is state.DefaultDevicesPerUser. Call it before the
// hub holds a Ping.
func (h *Hub) SetPerUser(n int) { h.perUser = n }

// Hold validates req against the device's cache and the server bounds and
// parks it until a watched folder changes, the heartbeat ends, a newer Ping
// from the same device arrives (here or on another endpoint sharing the
// store), the hub closes, or the caller ends it (the connection went
// away). A parked Ping costs no goroutine. answer is called once with the
// result — the caller writes the response there and nothing before —
// either before Hold returns (a Ping that cannot park, or changes already
// waiting) or later from another goroutine; the Ping is recorded on the
// device after answer returns, and written behind, so a push does not wait
// for the disk. ctx bounds the store reads Hold makes before it returns.
func (h *Hub) Hold(ctx context.Context, user, device string, req Request, answer func(Result)) *Held {
	me := &heldPing{user: user, device: device, start: time.Now(), answer: answer, done: make(chan struct{})}
	dev, err := h.devices.Peek(ctx, user, device)
	if err != nil {
		return h.failed(me, fmt.Errorf("read the device record: %w", err))
	}
	hb, folders := req.Heartbeat, req.Folders
	if hb == 0 {
		hb = dev.Heartbeat
	}
	if len(folders) == 0 {
		folders = dev.Folders
	}
	me.heartbeat = hb
	if res, ok := h.check(hb, folders); !ok {
		return h.refused(me, res)
	}
	folders = slices.Clone(folders)
	me.folders, me.seen = folders, make([]uint64, len(folders))
	for i, id := range folders {
		me.seen[i] = dev.Sync[id].Seq
	}
	h.devices.NotePing(user, device, hb, folders)

	heard := h.heard.Load()
	seqs, err := h.mail.Seqs(ctx, []string{user})
	if err != nil {
		return h.failed(me, fmt.Errorf("read the folders' sequences: %w", err))
	}
	key := deviceKey(user, device)
	h.mu.Lock()
	var now *Result
	switch {
	case h.closed:
		now = &Result{Status: eas.PingExpired, Outcome: Shutdown}
	default:
		if changed := me.changed(seqs[user]); len(changed) > 0 {
			now = &Result{Status: eas.PingChanges, Folders: changed, Outcome: Changes}
		}
	}
	if now != nil {
		h.mu.Unlock()
		h.finish(me, *now)
		return &Held{h, me}
	}
	if old := h.held[key]; old != nil {
		h.endLocked(old, Result{Status: eas.PingExpired, Outcome: Superseded})
	}
	// Each held Ping keeps a connection, so one account with endless
	// DeviceIds could take every file descriptor the process has.
	var evicted []string
	for h.perUser > 0 && len(h.byUser[user]) >= h.perUser {
		var oldest *heldPing
		for p := range h.byUser[user] {
			if oldest == nil || p.start.Before(oldest.start) {
				oldest = p
			}
		}
		h.endLocked(oldest, Result{Status: eas.PingExpired, Outcome: Evicted})
		h.counters.PingEvicted()
		evicted = append(evicted, oldest.device)
	}
	h.held[key] = me
	if h.byUser[user] == nil {
		h.byUser[user] = map[*heldPing]bool{}
	}
	h.byUser[user][me] = true
	me.timer = time.AfterFunc(time.Duration(hb)*time.Second, func() {
		h.end(me, Result{Status: eas.PingExpired, Outcome: Expired})
	})
	// A change heard between reading the sequences and parking found no
	// Ping of this device to wake.
	missed := h.heard.Load() != heard
	h.mu.Unlock()
	for _, dev := range evicted {
		h.log.Info("held Ping ended early: the user holds more Pings than the per-user limit; the oldest goes", "user", user, "device", dev, "limit", h.perUser)
	}
	h.announce(ctx, me)
	if missed {
		h.recheck(ctx, me)
	}
	return &Held{h, me}
}

// changed lists the watched folders whose sequence in seqs is past what
// the device had synced.
func (p *heldPing) changed(seqs map[string]uint64) []string {
	var out []string
	for i, id := range p.folders {
		if seqs[id] > p.seen[i] {
			out = append(out, id)
		}
	}
	return out
}

// refused answers a Ping that cannot be parked, which is not recorded.
func (h *Hub) refused(p *heldPing, res Result) *Held {
	p.answer(res)
	close(p.done)
	return &Held{h, p}
}

// failed answers a Ping the store failed with Status 8, a server error:
// the device tries again later.
func (h *Hub) failed(p *heldPing, err error) *Held {
	h.log.Error("Ping", "user", p.user, "device", p.device, "err", err)
	return h.refused(p, Result{Status: eas.PingServerError})
}

// Held is a Ping handed to Hold.
type Held struct {
	h *Hub
	p *heldPing
}

// Cut ends the Ping because its connection went away, if nothing ended it
// first; the answer is still called, and fails to write.
func (x *Held) Cut() { x.h.end(x.p, Result{Status: eas.PingExpired, Outcome: Cut}) }

// Done is closed once the Ping is answered and recorded.
func (x *Held) Done() <-chan struct{} { return x.p.done }

// end answers p with res unless something ended it already.
func (h *Hub) end(p *heldPing, res Result) {
	h.mu.Lock()
	if p.ended {
		h.mu.Unlock()
		return
	}
	h.takeLocked(p)
	h.mu.Unlock()
	h.finishTaken(p, res)
}

// takeLocked removes p from the hub and counts its answer as under way;
// its caller then calls finishTaken once. Only held Pings are taken, and
// none is held once Close began, so Close's wait sees no new answers.
func (h *Hub) takeLocked(p *heldPing) {
	p.ended = true
	if p.timer != nil {
		p.timer.Stop()
	}
	key := deviceKey(p.user, p.device)
	if h.held[key] == p {
		delete(h.held, key)
	}
	delete(h.byUser[p.user], p)
	if len(h.byUser[p.user]) == 0 {
		delete(h.byUser, p.user)
	}
	h.answering.Add(1)
}

// endLocked takes p and queues its answer.
func (h *Hub) endLocked(p *heldPing, res Result) {
	h.takeLocked(p)
	h.answerLater(p, res)
}

func (h *Hub) finishTaken(p *heldPing, res Result) {
	defer h.answering.Done()
	h.finish(p, res)
}

// maxAnswerers bounds the goroutines answering taken Pings at once. An
// answer is a small write that the socket buffer takes at once, so a few
// goroutines keep the cores busy. Measured on a 10,000-Ping broadcast: a
// goroutine started per answer grows its stack from scratch every time (a
// quarter of the server's CPU), and 32 answerers queued on the device
// records' lock until the broadcast was mostly waiting; at 8 neither shows.
const maxAnswerers = 8

type answerJob struct {
	p   *heldPing
	res Result
}

// answerLater queues the answer of a taken Ping, for a goroutine other than
// the caller (who holds the hub's lock) to write; it starts one when fewer
// than maxAnswerers run.
func (h *Hub) answerLater(p *heldPing, res Result) {
	h.qmu.Lock()
	h.queue = append(h.queue, answerJob{p, res})
	start := h.answerers < maxAnswerers
	if start {
		h.answerers++
	}
	h.qmu.Unlock()
	if start {
		go h.answerQueued()
	}
}

// answerQueued answers queued Pings in order until none is left.
func (h *Hub) answerQueued() {
	for {
		h.qmu.Lock()
		if len(h.queue) == 0 {
			h.answerers--
			h.queue = nil
			h.qmu.Unlock()
			return
		}
		j := h.queue[0]
		h.queue[0] = answerJob{}
		h.queue = h.queue[1:]
		h.qmu.Unlock()
		h.finishTaken(j.p, j.res)
	}
}

// finish answers p and records it on the device.
func (h *Hub) finish(p *heldPing, res Result) {
	defer close(p.done)
	p.answer(res)
	h.counters.PingEnded(res.Outcome)
	log := state.PingLog{Start: p.start.UTC(), Heartbeat: p.heartbeat, Outcome: res.Outcome, Held: int(time.Since(p.start) / time.Second)}
	h.log.Debug("ping ended", "user", p.user, "device", p.device, "heartbeat_s", p.heartbeat, "outcome", res.Outcome, "held_s", log.Held)
	h.devices.LogPing(p.user, p.device, log)
}

// check refuses a Ping that cannot be parked, with the status that says why.
func (h *Hub) check(hb int, folders []string) (Result, bool) {
	switch {
	case hb == 0 || len(folders) == 0:
		return Result{Status: eas.PingMissingParameters}, false
	case hb < h.bounds.Min:
		return Result{Status: eas.PingHeartbeatOutOfRange, Heartbeat: h.bounds.Min}, false
	case hb > h.bounds.Max:
		return Result{Status: eas.PingHeartbeatOutOfRange, Heartbeat: h.bounds.Max}, false
	case len(folders) > h.maxFolders:
		return Result{Status: eas.PingTooManyFolders, MaxFolders: h.maxFolders}, false
	}
	for _, id := range folders {
		if !IsFolder(id) {
			return Result{Status: eas.PingFolderSyncRequired}, false
		}
	}
	return Result{}, true
}

// Held returns how many Pings are parked.
func (h *Hub) Held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}

// Close answers every parked Ping with Status 1, refuses to park new ones
// (they are answered at once), and returns when every answer under way is
// written, so a shutdown does not leave devices waiting for a connection
// that is about to close.
func (h *Hub) Close() {
	// First, and outside mu: a change being raised holds the feed while it
	// waits for mu.
	h.stopFeed()
	h.mu.Lock()
	h.closed = true
	var ending []*heldPing
	for _, p := range h.held {
		ending = append(ending, p)
	}
	for _, p := range ending {
		h.endLocked(p, Result{Status: eas.PingExpired, Outcome: Shutdown})
	}
	h.mu.Unlock()
	h.answering.Wait()
}
