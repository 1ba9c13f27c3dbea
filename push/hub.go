package push

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pushca/pushca/eas"
)

// Exchange 2007/2010's heartbeat bounds, seconds.
const (
	DefaultHeartbeatMin = 60
	DefaultHeartbeatMax = 3540
)

const (
	// maxPingFolders is ours; Exchange's own limit is configurable too.
	maxPingFolders = 100
	// maxMessagesPerFolder bounds the memory a test mailbox can take.
	maxMessagesPerFolder = 1000
	inboxID              = "1"
	folderClassEmail     = "Email"
)

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
		{inboxID, "Inbox", folderClassEmail, eas.FolderInbox},
		{"2", "Drafts", folderClassEmail, eas.FolderDrafts},
		{"3", "Deleted Items", folderClassEmail, eas.FolderDeleted},
		{"4", "Sent Items", folderClassEmail, eas.FolderSent},
		{"5", "Outbox", folderClassEmail, eas.FolderOutbox},
		{"6", "Calendar", "Calendar", eas.FolderCalendar},
		{"7", "Contacts", "Contacts", eas.FolderContacts},
		{"8", "Tasks", "Tasks", eas.FolderTasks},
	}
}

func isFolder(id string) bool {
	return slices.ContainsFunc(Folders(), func(f Folder) bool { return f.ID == id })
}

// Message is a test message delivered into a user's Inbox.
type Message struct {
	ID       string    `json:"id"`
	Seq      uint64    `json:"seq"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Subject  string    `json:"subject"`
	Body     string    `json:"body"`
	Received time.Time `json:"received"`
}

type folderState struct {
	// seq grows with every change; a device that has seen a smaller value
	// has changes waiting.
	seq   uint64
	items []Message
}

type mailbox struct {
	folders map[string]*folderState
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

// PingRequest is a parsed Ping. Zero Heartbeat and nil Folders mean absent:
// the device's cached values are used.
type PingRequest struct {
	Heartbeat int
	Folders   []string
}

// PingResult is the answer to a Ping. Folders lists changed folders (Status
// 2); Heartbeat the allowed bound (Status 5); MaxFolders the limit (Status 6).
type PingResult struct {
	Status     eas.PingStatus
	Folders    []string
	Heartbeat  int
	MaxFolders int
	// Outcome is how the Ping ended, for the device record.
	Outcome string
}

// heldPing is a parked Ping: data only, no goroutine. Whoever ends it
// (a delivery, its timer, a newer Ping, the hub closing, the connection
// going away) takes it out of the hub under mu and answers it once.
type heldPing struct {
	user, device string
	folders      []string
	heartbeat    int
	start        time.Time
	timer        *time.Timer
	answer       func(PingResult)
	ended        bool // under Hub.mu
	// done is closed once the answer is written and the Ping recorded.
	done chan struct{}
}

// Hub holds every user's mailbox and every parked Ping.
type Hub struct {
	devices    *Devices
	bounds     HeartbeatBounds
	maxFolders int
	// perUser caps one user's held Pings (see Config.DevicesPerUser); below
	// 1, no cap.
	perUser int
	log     *slog.Logger
	// metrics counts Ping endings and pushes; nil counts nothing.
	metrics *metrics

	mu    sync.Mutex
	boxes map[string]*mailbox
	held  map[string]*heldPing // by deviceKey
	// byUser indexes held by user, so a delivery looks at that user's
	// devices only, however many Pings are held.
	byUser map[string]map[*heldPing]bool
	nextID uint64
	closed bool
	// answering counts answers under way, so Close can wait for them.
	answering sync.WaitGroup

	// qmu guards the answers queued for the answerers, apart from mu so a
	// delivery still waking Pings does not hold them up.
	qmu       sync.Mutex
	queue     []answerJob
	answerers int
}

// NewHub returns a hub recording devices in devices.
func NewHub(devices *Devices, bounds HeartbeatBounds, log *slog.Logger) (*Hub, error) {
	if err := bounds.Validate(); err != nil {
		return nil, err
	}
	return &Hub{
		devices: devices, bounds: bounds, maxFolders: maxPingFolders, perUser: DefaultDevicesPerUser, log: log,
		boxes: map[string]*mailbox{}, held: map[string]*heldPing{}, byUser: map[string]map[*heldPing]bool{},
	}, nil
}

func (h *Hub) box(user string) *mailbox {
	b, ok := h.boxes[user]
	if !ok {
		b = &mailbox{folders: map[string]*folderState{}}
		for _, f := range Folders() {
			b.folders[f.ID] = &folderState{}
		}
		h.boxes[user] = b
	}
	return b
}

// Deliver puts a message into user's Inbox and wakes that user's Pings. It
// returns the stored message and how many held Pings watch the Inbox.
func (h *Hub) Deliver(user string, m Message) (Message, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.box(user)
	f := b.folders[inboxID]
	f.seq++
	h.nextID++
	m.ID = inboxID + ":" + strconv.FormatUint(h.nextID, 10)
	m.Seq = f.seq
	if m.Received.IsZero() {
		m.Received = time.Now().UTC()
	}
	f.items = append(f.items, m)
	if len(f.items) > maxMessagesPerFolder {
		f.items = slices.Delete(f.items, 0, len(f.items)-maxMessagesPerFolder)
	}
	h.metrics.pushed()
	woken := 0
	for p := range h.byUser[user] {
		if !slices.Contains(p.folders, inboxID) {
			continue
		}
		woken++
		// The device's own Sync may already have taken the message.
		if changed := h.changedLocked(b, h.devices.peek(user, p.device).Sync, p.folders); len(changed) > 0 {
			h.takeLocked(p)
			h.answerLater(p, PingResult{Status: eas.PingChanges, Folders: changed, Outcome: PingChanges})
		}
	}
	return m, woken
}

// Since returns the messages of a folder newer than seq and the folder's
// current sequence number.
func (h *Hub) Since(user, folder string, seq uint64) ([]Message, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.box(user).folders[folder]
	if !ok {
		return nil, 0
	}
	var out []Message
	for _, m := range f.items {
		if m.Seq > seq {
			out = append(out, m)
		}
	}
	return out, f.seq
}

// changedLocked lists the folders with changes the device has not synced.
func (h *Hub) changedLocked(b *mailbox, seen map[string]SyncState, folders []string) []string {
	var out []string
	for _, id := range folders {
		if b.folders[id].seq > seen[id].Seq {
			out = append(out, id)
		}
	}
	return out
}

// Hold validates req against the device's cache and the server bounds and
// parks it until a watched folder changes, the heartbeat ends, a newer Ping
// from the same device arrives, the hub closes, or the caller ends it (the
// connection went away). A parked Ping costs no goroutine. answer is called
// once with the result — the caller writes the response there and nothing
// before — either before Hold returns (a Ping that cannot park, or changes
// already waiting) or later from another goroutine; the Ping is recorded on
// the device after answer returns, and written behind, so a push does not
// wait for the disk.
func (h *Hub) Hold(user, device string, req PingRequest, answer func(PingResult)) *Held {
	dev := h.devices.peek(user, device)
	hb, folders := req.Heartbeat, req.Folders
	if hb == 0 {
		hb = dev.Heartbeat
	}
	if len(folders) == 0 {
		folders = dev.Folders
	}
	me := &heldPing{user: user, device: device, heartbeat: hb, start: time.Now(), answer: answer, done: make(chan struct{})}
	if res, ok := h.check(hb, folders); !ok {
		answer(res)
		close(me.done)
		return &Held{h, me}
	}
	folders = slices.Clone(folders)
	me.folders = folders
	h.devices.note(user, device, func(d *Device) {
		d.Heartbeat, d.Folders = hb, folders
	})

	key := deviceKey(user, device)
	h.mu.Lock()
	var now *PingResult
	switch b := h.box(user); {
	case h.closed:
		now = &PingResult{Status: eas.PingExpired, Outcome: PingShutdown}
	default:
		if changed := h.changedLocked(b, dev.Sync, folders); len(changed) > 0 {
			now = &PingResult{Status: eas.PingChanges, Folders: changed, Outcome: PingChanges}
		}
	}
	if now != nil {
		h.mu.Unlock()
		h.finish(me, *now)
		return &Held{h, me}
	}
	if old := h.held[key]; old != nil {
		h.takeLocked(old)
		h.answerLater(old, PingResult{Status: eas.PingExpired, Outcome: PingSuperseded})
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
		h.takeLocked(oldest)
		h.answerLater(oldest, PingResult{Status: eas.PingExpired, Outcome: PingEvicted})
		h.metrics.evicted(evictedPing)
		evicted = append(evicted, oldest.device)
	}
	h.held[key] = me
	if h.byUser[user] == nil {
		h.byUser[user] = map[*heldPing]bool{}
	}
	h.byUser[user][me] = true
	me.timer = time.AfterFunc(time.Duration(hb)*time.Second, func() {
		h.end(me, PingResult{Status: eas.PingExpired, Outcome: PingExpired})
	})
	h.mu.Unlock()
	for _, dev := range evicted {
		h.log.Info("held Ping ended early: the user holds more Pings than the per-user limit; the oldest goes", "user", user, "device", dev, "limit", h.perUser)
	}
	return &Held{h, me}
}

// Held is a Ping handed to Hold.
type Held struct {
	h *Hub
	p *heldPing
}

// Cut ends the Ping because its connection went away, if nothing ended it
// first; the answer is still called, and fails to write.
func (x *Held) Cut() { x.h.end(x.p, PingResult{Status: eas.PingExpired, Outcome: PingCut}) }

// Done is closed once the Ping is answered and recorded.
func (x *Held) Done() <-chan struct{} { return x.p.done }

// end answers p with res unless something ended it already.
func (h *Hub) end(p *heldPing, res PingResult) {
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

func (h *Hub) finishTaken(p *heldPing, res PingResult) {
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
	res PingResult
}

// answerLater queues the answer of a taken Ping, for a goroutine other than
// the caller (who holds the hub's lock) to write; it starts one when fewer
// than maxAnswerers run.
func (h *Hub) answerLater(p *heldPing, res PingResult) {
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
func (h *Hub) finish(p *heldPing, res PingResult) {
	defer close(p.done)
	p.answer(res)
	h.metrics.pingEnded(res.Outcome)
	log := PingLog{Start: p.start.UTC(), Heartbeat: p.heartbeat, Outcome: res.Outcome, Held: int(time.Since(p.start) / time.Second)}
	h.log.Debug("ping ended", "user", p.user, "device", p.device, "heartbeat_s", p.heartbeat, "outcome", res.Outcome, "held_s", log.Held)
	h.devices.logPing(p.user, p.device, log)
}

// check refuses a Ping that cannot be parked, with the status that says why.
func (h *Hub) check(hb int, folders []string) (PingResult, bool) {
	switch {
	case hb == 0 || len(folders) == 0:
		return PingResult{Status: eas.PingMissingParameters}, false
	case hb < h.bounds.Min:
		return PingResult{Status: eas.PingHeartbeatOutOfRange, Heartbeat: h.bounds.Min}, false
	case hb > h.bounds.Max:
		return PingResult{Status: eas.PingHeartbeatOutOfRange, Heartbeat: h.bounds.Max}, false
	case len(folders) > h.maxFolders:
		return PingResult{Status: eas.PingTooManyFolders, MaxFolders: h.maxFolders}, false
	}
	for _, id := range folders {
		if !isFolder(id) {
			return PingResult{Status: eas.PingFolderSyncRequired}, false
		}
	}
	return PingResult{}, true
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
	h.mu.Lock()
	h.closed = true
	var ending []*heldPing
	for _, p := range h.held {
		ending = append(ending, p)
	}
	for _, p := range ending {
		h.takeLocked(p)
		h.answerLater(p, PingResult{Status: eas.PingExpired, Outcome: PingShutdown})
	}
	h.mu.Unlock()
	h.answering.Wait()
}
