package push

import (
	"context"
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
	// changed is closed and replaced on every change: parked Pings wake up
	// on it instead of polling.
	changed chan struct{}
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

type heldPing struct {
	user    string
	folders []string
	// done is closed when a newer Ping from the same device replaces this one.
	done chan struct{}
}

// Hub holds every user's mailbox and every parked Ping.
type Hub struct {
	devices    *Devices
	bounds     HeartbeatBounds
	maxFolders int
	log        *slog.Logger
	// metrics counts Ping endings and pushes; nil counts nothing.
	metrics *metrics

	mu    sync.Mutex
	boxes map[string]*mailbox
	held  map[string]*heldPing // by deviceKey
	// byUser indexes held by user, so a delivery looks at that user's
	// devices only, however many Pings are held.
	byUser  map[string]map[*heldPing]bool
	nextID  uint64
	closing chan struct{}
	closed  bool
}

// NewHub returns a hub recording devices in devices.
func NewHub(devices *Devices, bounds HeartbeatBounds, log *slog.Logger) (*Hub, error) {
	if err := bounds.Validate(); err != nil {
		return nil, err
	}
	return &Hub{
		devices: devices, bounds: bounds, maxFolders: maxPingFolders, log: log,
		boxes: map[string]*mailbox{}, held: map[string]*heldPing{}, byUser: map[string]map[*heldPing]bool{}, closing: make(chan struct{}),
	}, nil
}

func (h *Hub) box(user string) *mailbox {
	b, ok := h.boxes[user]
	if !ok {
		b = &mailbox{folders: map[string]*folderState{}, changed: make(chan struct{})}
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
	close(b.changed)
	b.changed = make(chan struct{})
	h.metrics.pushed()
	woken := 0
	for p := range h.byUser[user] {
		if slices.Contains(p.folders, inboxID) {
			woken++
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
func (h *Hub) changedLocked(b *mailbox, dev Device, folders []string) []string {
	var out []string
	for _, id := range folders {
		if b.folders[id].seq > dev.Sync[id].Seq {
			out = append(out, id)
		}
	}
	return out
}

// Ping validates req against the device's cache and the server bounds, then
// parks until a watched folder changes, the heartbeat ends, a newer Ping
// from the same device arrives, the hub closes, or ctx ends (the connection
// went away). It calls answer once with the result — the caller writes the
// response there and nothing before — and records the Ping on the device
// afterwards, so a push does not wait for the disk. An error means the Ping
// could not start and answer was not called.
func (h *Hub) Ping(ctx context.Context, user, device string, req PingRequest, answer func(PingResult)) error {
	start := time.Now()
	dev, _ := h.devices.Get(user, device)
	hb, folders := req.Heartbeat, req.Folders
	if hb == 0 {
		hb = dev.Heartbeat
	}
	if len(folders) == 0 {
		folders = dev.Folders
	}
	if res, ok := h.check(hb, folders); !ok {
		answer(res)
		return nil
	}
	folders = slices.Clone(folders)
	dev, err := h.devices.Update(user, device, func(d *Device) {
		d.Heartbeat, d.Folders = hb, folders
	})
	if err != nil {
		return err
	}

	res := h.park(ctx, user, device, dev, hb, folders)
	answer(res)
	h.metrics.pingEnded(res.Outcome)
	log := PingLog{Start: start.UTC(), Heartbeat: hb, Outcome: res.Outcome, Held: int(time.Since(start) / time.Second)}
	h.log.Debug("ping ended", "user", user, "device", device, "heartbeat_s", hb, "outcome", res.Outcome, "held_s", log.Held)
	if err := h.devices.logPing(user, device, log); err != nil {
		h.log.Error("record ping", "user", user, "device", device, "err", err)
	}
	return nil
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

func (h *Hub) park(ctx context.Context, user, device string, dev Device, hb int, folders []string) PingResult {
	key := deviceKey(user, device)
	me := &heldPing{user: user, folders: folders, done: make(chan struct{})}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return PingResult{Status: eas.PingExpired, Outcome: PingShutdown}
	}
	b := h.box(user)
	if changed := h.changedLocked(b, dev, folders); len(changed) > 0 {
		h.mu.Unlock()
		return PingResult{Status: eas.PingChanges, Folders: changed, Outcome: PingChanges}
	}
	if old := h.held[key]; old != nil {
		close(old.done)
		delete(h.byUser[user], old)
	}
	h.held[key] = me
	if h.byUser[user] == nil {
		h.byUser[user] = map[*heldPing]bool{}
	}
	h.byUser[user][me] = true
	wake := b.changed
	h.mu.Unlock()

	defer func() {
		h.mu.Lock()
		if h.held[key] == me {
			delete(h.held, key)
		}
		delete(h.byUser[user], me)
		if len(h.byUser[user]) == 0 {
			delete(h.byUser, user)
		}
		h.mu.Unlock()
	}()

	timer := time.NewTimer(time.Duration(hb) * time.Second)
	defer timer.Stop()
	for {
		select {
		case <-wake:
			h.mu.Lock()
			// The device's own Sync may have moved its marks meanwhile.
			dev, _ = h.devices.Get(user, device)
			changed := h.changedLocked(b, dev, folders)
			wake = b.changed
			h.mu.Unlock()
			if len(changed) > 0 {
				return PingResult{Status: eas.PingChanges, Folders: changed, Outcome: PingChanges}
			}
		case <-timer.C:
			return PingResult{Status: eas.PingExpired, Outcome: PingExpired}
		case <-me.done:
			return PingResult{Status: eas.PingExpired, Outcome: PingSuperseded}
		case <-h.closing:
			return PingResult{Status: eas.PingExpired, Outcome: PingShutdown}
		case <-ctx.Done():
			return PingResult{Status: eas.PingExpired, Outcome: PingCut}
		}
	}
}

// Held returns how many Pings are parked.
func (h *Hub) Held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}

// Close answers every parked Ping with Status 1 and refuses to park new ones
// (they are answered at once), so a shutdown does not leave devices waiting
// for a connection that is about to close.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.closing)
	}
}
