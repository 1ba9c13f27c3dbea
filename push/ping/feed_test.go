package ping

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/state"
)

// lossyStore is a mailbox whose feed can be cut off, as a shared store's
// listener is when its database connection drops: changes raised
// meanwhile are lost, and reconnecting raises Resync.
type lossyStore struct {
	*state.Memory
	mu   sync.Mutex
	cut  bool
	subs []func(context.Context, state.Change)
	// afterSeqs, when set, runs once after a read of the sequences.
	afterSeqs func()
}

func newLossyStore() *lossyStore { return &lossyStore{Memory: state.NewMemory()} }

func (s *lossyStore) Subscribe(fn func(context.Context, state.Change)) func() {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	s.mu.Unlock()
	return s.Memory.Subscribe(func(ctx context.Context, c state.Change) {
		s.mu.Lock()
		lost := s.cut
		s.mu.Unlock()
		if !lost {
			fn(ctx, c)
		}
	})
}

func (s *lossyStore) Seqs(ctx context.Context, users []string) (map[string]map[string]uint64, error) {
	seqs, err := s.Memory.Seqs(ctx, users)
	s.mu.Lock()
	after := s.afterSeqs
	s.afterSeqs = nil
	s.mu.Unlock()
	if after != nil {
		after()
	}
	return seqs, err
}

func (s *lossyStore) setCut(cut bool) {
	s.mu.Lock()
	s.cut = cut
	s.mu.Unlock()
}

// reconnect ends the cut and tells the subscribers changes may be lost.
func (s *lossyStore) reconnect(ctx context.Context) {
	s.setCut(false)
	s.mu.Lock()
	subs := slices.Clone(s.subs)
	s.mu.Unlock()
	for _, fn := range subs {
		fn(ctx, state.Change{Kind: state.Resync})
	}
}

func newHubOn(t *testing.T, mail state.Store, devices *state.BoltDevices) *Hub {
	t.Helper()
	h, err := NewHub(devices, mail, HeartbeatBounds{1, 3540}, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func wantChanges(t *testing.T, c <-chan Result, folders ...string) {
	t.Helper()
	if r := recv(t, c); r.Status != eas.PingChanges || !slices.Equal(r.Folders, folders) {
		t.Fatalf("got %+v, want Status 2 for %v", r, folders)
	}
}

// A delivery made while the feed was cut off wakes nothing then; the
// Resync that follows the reconnect answers the Ping whose folder moved,
// and only that one.
func TestResyncAnswersPingsMissedWhileCut(t *testing.T) {
	ctx := context.Background()
	mail := newLossyStore()
	h := newHubOn(t, mail, openTestDevices(t))
	alice := startPing(t, ctx, h, "alice", "dev1", longPing)
	bob := startPing(t, ctx, h, "bob", "dev2", longPing)

	mail.setCut(true)
	if _, _, err := h.Deliver(ctx, "alice", state.Message{Subject: "during the outage"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	notYet(t, alice)

	mail.reconnect(ctx)
	wantChanges(t, alice, InboxID)
	notYet(t, bob)
	if h.heldBy("bob", "dev2") == nil {
		t.Fatal("bob's Ping, whose folders did not move, was ended by the resync")
	}
}

// A change raised after Hold read the sequences but before its Ping was
// parked found nothing to wake: Hold must see it once parked.
func TestChangeWhileParkingIsNotLost(t *testing.T) {
	ctx := context.Background()
	mail := newLossyStore()
	h := newHubOn(t, mail, openTestDevices(t))
	mail.afterSeqs = func() {
		if _, err := mail.Memory.Deliver(ctx, "alice", InboxID, state.Message{Subject: "racing the Ping"}); err != nil {
			t.Error(err)
		}
	}
	c := make(chan Result, 1)
	h.Hold(ctx, "alice", "dev1", longPing, func(r Result) { c <- r })
	wantChanges(t, c, InboxID)
}

// Two hubs on one store behave as two endpoints sharing a database: a
// delivery through either wakes a Ping held on the other.
func TestDeliveryWakesPingsOnEveryEndpoint(t *testing.T) {
	ctx := context.Background()
	mail, devices := state.NewMemory(), openTestDevices(t)
	a, b := newHubOn(t, mail, devices), newHubOn(t, mail, devices)
	onB := startPing(t, ctx, b, "alice", "dev1", longPing)
	_, woken, err := a.Deliver(ctx, "alice", state.Message{Subject: "via A"})
	if err != nil || woken != 0 {
		t.Fatalf("deliver on A, which holds no Ping: woken %d, %v", woken, err)
	}
	wantChanges(t, onB, InboxID)
}

// One outstanding Ping per device across endpoints: a newer Ping of the
// device on B ends the one A holds, and an announcement of an older Ping
// ends nothing.
func TestNewerPingElsewhereEndsOlder(t *testing.T) {
	ctx := context.Background()
	mail, devices := state.NewMemory(), openTestDevices(t)
	a, b := newHubOn(t, mail, devices), newHubOn(t, mail, devices)
	first := startPing(t, ctx, a, "alice", "dev1", longPing)
	other := startPing(t, ctx, a, "alice", "dev2", longPing)
	older := a.heldBy("alice", "dev1").start.Add(-time.Second)
	if err := mail.Publish(ctx, state.Change{Kind: state.PingHeld, User: "alice", Device: "dev1", Origin: b.id, At: older}); err != nil {
		t.Fatal(err)
	}
	notYet(t, first)

	second := startPing(t, ctx, b, "alice", "dev1", longPing)
	if r := recv(t, first); r.Status != eas.PingExpired || r.Outcome != Superseded {
		t.Fatalf("A's older Ping: %+v, want Status 1 superseded", r)
	}
	notYet(t, second)
	notYet(t, other)
	if a.Held() != 1 || b.Held() != 1 {
		t.Fatalf("held: A %d, B %d; want 1 each", a.Held(), b.Held())
	}
}
