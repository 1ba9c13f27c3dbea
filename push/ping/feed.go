package ping

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/state"
)

// Deliver puts a message into user's Inbox. The store raises the change,
// which wakes the Pings watching the Inbox here and on every endpoint
// sharing the store. It returns the stored message and how many Pings held
// here watched the Inbox as it was delivered (each answers Status 2 unless
// its device had synced the message already).
func (h *Hub) Deliver(ctx context.Context, user string, m state.Message) (state.Message, int, error) {
	h.mu.Lock()
	watching := 0
	for p := range h.byUser[user] {
		if slices.Contains(p.folders, InboxID) {
			watching++
		}
	}
	h.mu.Unlock()
	m, err := h.mail.Deliver(ctx, user, InboxID, m)
	if err != nil {
		return state.Message{}, 0, fmt.Errorf("deliver to %s's Inbox: %w", user, err)
	}
	h.counters.Pushed()
	return m, watching, nil
}

// hear is the hub's subscriber to its store's feed.
func (h *Hub) hear(ctx context.Context, c state.Change) {
	switch c.Kind {
	case state.FolderChanged:
		h.folderChanged(c.User, c.Folder, c.Seq)
	case state.Resync:
		h.resync(ctx)
	case state.PingHeld:
		if c.Origin != h.id {
			h.supersede(c.User, c.Device, c.At)
		}
	}
}

// folderChanged wakes user's Pings that watch folder and whose device had
// synced less than seq.
func (h *Hub) folderChanged(user, folder string, seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.heard.Add(1)
	for p := range h.byUser[user] {
		if i := slices.Index(p.folders, folder); i >= 0 && seq > p.seen[i] {
			h.endLocked(p, Result{Status: eas.PingChanges, Folders: []string{folder}, Outcome: Changes})
		}
	}
}

// resync checks every held Ping against the folders' sequences now, for
// the changes a feed that was cut off may have lost.
func (h *Hub) resync(ctx context.Context) {
	h.mu.Lock()
	h.heard.Add(1) // a Hold reading the sequences now looks again once parked
	users := slices.Collect(maps.Keys(h.byUser))
	h.mu.Unlock()
	seqs, err := h.mail.Seqs(ctx, users)
	if err != nil {
		h.log.Error("re-check held Pings after the change feed was cut off: a change made meanwhile waits for the next one or the heartbeat", "users", len(users), "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for user, cur := range seqs {
		for p := range h.byUser[user] {
			h.wakeLocked(p, cur)
		}
	}
}

// recheck reads the sequences again for a Ping that may have missed a
// change while it was being parked.
func (h *Hub) recheck(ctx context.Context, p *heldPing) {
	seqs, err := h.mail.Seqs(ctx, []string{p.user})
	if err != nil {
		h.log.Error("re-read the folders' sequences for a Ping parked during a change: a change missed waits for the next one or the heartbeat", "user", p.user, "device", p.device, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !p.ended {
		h.wakeLocked(p, seqs[p.user])
	}
}

// wakeLocked answers p with Status 2 when seqs has changes for it.
func (h *Hub) wakeLocked(p *heldPing, seqs map[string]uint64) {
	if changed := p.changed(seqs); len(changed) > 0 {
		h.endLocked(p, Result{Status: eas.PingChanges, Folders: changed, Outcome: Changes})
	}
}

// announce tells the endpoints sharing the store that p is the device's
// Ping now. A failure leaves an older Ping held elsewhere until its
// heartbeat ends: the device is answered there late, not wrongly.
func (h *Hub) announce(ctx context.Context, p *heldPing) {
	c := state.Change{Kind: state.PingHeld, User: p.user, Device: p.device, Origin: h.id, At: p.start}
	if err := h.mail.Publish(ctx, c); err != nil {
		h.log.Warn("tell other endpoints of a new Ping: an older Ping of the device held elsewhere stays until its heartbeat ends", "user", p.user, "device", p.device, "err", err)
	}
}

// supersede ends the Ping of the device held here when it began before at,
// when the device's newer Ping began on another endpoint.
func (h *Hub) supersede(user, device string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.held[deviceKey(user, device)]; p != nil && p.start.Before(at) {
		h.endLocked(p, Result{Status: eas.PingExpired, Outcome: Superseded})
	}
}
