package pgstate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/push/state"
	"github.com/pushca/pushca/push/state/statetest"
)

func TestStore(t *testing.T) {
	s := pgtest.Start(t)
	statetest.Store(t, func(t *testing.T) state.Store { return openDB(t, newDatabase(t, s)).Store() })
}

// Two endpoints on one database: a delivery on A is raised on B through
// B's listener, with the sequence A took; A's own subscribers hear it
// once, from Deliver, and not again from their listener's echo.
func TestDeliveryRaisedOnOtherEndpoint(t *testing.T) {
	s := pgtest.Start(t)
	dsn := newDatabase(t, s)
	a, b := openDB(t, dsn).Store(), openDB(t, dsn).Store()
	onA, onB := changes(t, a), changes(t, b)
	ctx := context.Background()
	m, err := a.Deliver(ctx, "alice", "1", state.Message{Subject: "via A"})
	if err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, onB, "FolderChanged on B", func(c state.Change) bool { return c.Kind == state.FolderChanged })
	if got.User != "alice" || got.Folder != "1" || got.Seq != m.Seq {
		t.Fatalf("B heard %+v, want alice's folder 1 at %d", got, m.Seq)
	}
	// A delivery on B: once A hears it, anything echoed of A's own
	// delivery would have come before it.
	if _, err := b.Deliver(ctx, "bob", "1", state.Message{}); err != nil {
		t.Fatal(err)
	}
	if first := waitFor(t, onA, "A's own delivery", func(state.Change) bool { return true }); first.User != "alice" {
		t.Fatalf("A's first change: %+v", first)
	}
	if next := waitFor(t, onA, "B's delivery on A", func(state.Change) bool { return true }); next.User != "bob" {
		t.Fatalf("A heard %+v after its own delivery, want bob's from B (its own echoed?)", next)
	}
}

// A user name that would not fit a notification is refused before
// anything is stored, rather than stored and never raised elsewhere.
func TestDeliverRefusesUnnotifiableUser(t *testing.T) {
	s := pgtest.Start(t)
	store := openDB(t, newDatabase(t, s)).Store()
	ctx := context.Background()
	long := strings.Repeat("u", 8000)
	if _, err := store.Deliver(ctx, long, "1", state.Message{}); err == nil {
		t.Fatal("a delivery to an 8000-byte user name was accepted")
	}
	if seqs, err := store.Seqs(ctx, []string{long}); err != nil || len(seqs) != 0 {
		t.Fatalf("after the refusal: %v %v", seqs, err)
	}
	if err := store.Publish(ctx, state.Change{Kind: state.PingHeld, User: long, Device: "D1"}); err == nil {
		t.Fatal("a PingHeld of an 8000-byte user name was published")
	}
}

// The folder keeps its newest messages only, as the memory store does.
func TestKeepsNewestMessages(t *testing.T) {
	s := pgtest.Start(t)
	store := openDB(t, newDatabase(t, s)).Store()
	ctx := context.Background()
	for range state.MaxMessagesPerFolder + 5 {
		if _, err := store.Deliver(ctx, "alice", "1", state.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, seq, err := store.Since(ctx, "alice", "1", 0)
	if err != nil || len(msgs) != state.MaxMessagesPerFolder || msgs[0].Seq != 6 || seq != state.MaxMessagesPerFolder+5 {
		t.Fatalf("%d messages, at %d, %v", len(msgs), seq, err)
	}
}
