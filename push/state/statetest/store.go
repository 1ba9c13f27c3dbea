package statetest

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/pushca/pushca/push/state"
)

// Store runs the contract of state.Store against stores open makes, each
// fresh and empty.
func Store(t *testing.T, open func(t *testing.T) state.Store) {
	t.Run("empty", func(t *testing.T) { storeEmpty(t, open(t)) })
	t.Run("deliver and since", func(t *testing.T) { storeDeliver(t, open(t)) })
	t.Run("seqs", func(t *testing.T) { storeSeqs(t, open(t)) })
	t.Run("feed", func(t *testing.T) { storeFeed(t, open(t)) })
	t.Run("concurrent deliveries", func(t *testing.T) { storeConcurrent(t, open(t)) })
}

func storeEmpty(t *testing.T, s state.Store) {
	ctx := context.Background()
	msgs, seq, err := s.Since(ctx, "nobody", "1", 0)
	if err != nil || len(msgs) != 0 || seq != 0 {
		t.Fatalf("Since on an empty store: %v %d %v", msgs, seq, err)
	}
	seqs, err := s.Seqs(ctx, []string{"nobody"})
	if err != nil || len(seqs["nobody"]) != 0 {
		t.Fatalf("Seqs on an empty store: %v %v", seqs, err)
	}
}

// Sequences count per user and folder; ids are unique in the store; a
// message keeps what the caller set, and gets a time when it had none.
func storeDeliver(t *testing.T, s state.Store) {
	ctx := context.Background()
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ids := map[string]bool{}
	for i, d := range []struct {
		user, folder string
		want         uint64
	}{{"alice", "1", 1}, {"alice", "1", 2}, {"alice", "6", 1}, {"bob", "1", 1}, {"alice", "1", 3}} {
		m := state.Message{From: "f", To: d.user, Subject: fmt.Sprint(i), Body: "b"}
		if i == 0 {
			m.Received = at
		}
		got, err := s.Deliver(ctx, d.user, d.folder, m)
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != d.want || got.ID == "" || ids[got.ID] || got.Subject != m.Subject || got.From != "f" || got.To != d.user || got.Body != "b" || got.Received.IsZero() {
			t.Fatalf("delivery %d to %s/%s: %+v, want sequence %d and a new id", i, d.user, d.folder, got, d.want)
		}
		if i == 0 && !got.Received.Equal(at) {
			t.Fatalf("the given time became %v", got.Received)
		}
		ids[got.ID] = true
	}
	msgs, seq, err := s.Since(ctx, "alice", "1", 1)
	if err != nil || seq != 3 || len(msgs) != 2 || msgs[0].Seq != 2 || msgs[1].Seq != 3 || msgs[0].Subject != "1" {
		t.Fatalf("Since 1 of alice's folder 1: %+v at %d, %v; want messages 2 and 3 at 3", msgs, seq, err)
	}
	if msgs, seq, _ := s.Since(ctx, "alice", "1", 3); len(msgs) != 0 || seq != 3 {
		t.Fatalf("Since the current sequence: %+v at %d", msgs, seq)
	}
	if msgs, seq, _ := s.Since(ctx, "alice", "2", 0); len(msgs) != 0 || seq != 0 {
		t.Fatalf("a folder never written to: %+v at %d", msgs, seq)
	}
}

func storeSeqs(t *testing.T, s state.Store) {
	ctx := context.Background()
	for _, d := range [][2]string{{"alice", "1"}, {"alice", "1"}, {"alice", "6"}, {"bob", "1"}} {
		if _, err := s.Deliver(ctx, d[0], d[1], state.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Seqs(ctx, []string{"alice", "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got["alice"], map[string]uint64{"1": 2, "6": 1}) || len(got["carol"]) != 0 || got["bob"] != nil {
		t.Fatalf("Seqs of alice and carol: %v", got)
	}
}

// recorder keeps what a subscriber was given.
type recorder struct {
	mu  sync.Mutex
	got []state.Change
}

func (r *recorder) add(_ context.Context, c state.Change) {
	r.mu.Lock()
	r.got = append(r.got, c)
	r.mu.Unlock()
}

func (r *recorder) changes() []state.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]state.Change(nil), r.got...)
}

// Every subscriber hears of a delivery before Deliver returns, and of what
// is published; none hears anything once stopped.
func storeFeed(t *testing.T, s state.Store) {
	ctx := context.Background()
	var a, b recorder
	stopA := s.Subscribe(a.add)
	stopB := s.Subscribe(b.add)
	defer stopB()
	m, err := s.Deliver(ctx, "alice", "1", state.Message{})
	if err != nil {
		t.Fatal(err)
	}
	want := state.Change{Kind: state.FolderChanged, User: "alice", Folder: "1", Seq: m.Seq}
	for name, r := range map[string]*recorder{"first": &a, "second": &b} {
		if got := r.changes(); len(got) != 1 || !sameChange(got[0], want) {
			t.Fatalf("%s subscriber after Deliver: %+v, want %+v", name, got, want)
		}
	}
	held := state.Change{Kind: state.PingHeld, User: "alice", Device: "D1", Origin: "endpoint-1", At: time.Now().UTC()}
	if err := s.Publish(ctx, held); err != nil {
		t.Fatal(err)
	}
	waitChanges(t, &b, 2)
	if got := b.changes()[1]; !sameChange(got, held) {
		t.Fatalf("published %+v, heard %+v", held, got)
	}
	stopA()
	n := len(a.changes())
	if _, err := s.Deliver(ctx, "alice", "1", state.Message{}); err != nil {
		t.Fatal(err)
	}
	waitChanges(t, &b, 3)
	if got := a.changes(); len(got) != n {
		t.Fatalf("a stopped subscriber heard %+v", got[n:])
	}
}

func sameChange(a, b state.Change) bool {
	return a.Kind == b.Kind && a.User == b.User && a.Folder == b.Folder && a.Seq == b.Seq &&
		a.Device == b.Device && a.Origin == b.Origin && a.At.Equal(b.At)
}

// waitChanges waits until r heard n changes: a shared store's Publish
// reaches subscribers through its listener, after Publish returns.
func waitChanges(t *testing.T, r *recorder, n int) {
	t.Helper()
	for range 1000 {
		if len(r.changes()) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("heard %d changes, want %d", len(r.changes()), n)
}

// Concurrent deliveries to one folder take distinct sequences, and the
// newest is raised.
func storeConcurrent(t *testing.T, s state.Store) {
	ctx := context.Background()
	var r recorder
	defer s.Subscribe(r.add)()
	const n = 50
	seqs := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m, err := s.Deliver(ctx, "alice", "1", state.Message{})
			if err != nil {
				t.Error(err)
			}
			seqs[i] = m.Seq
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, q := range seqs {
		if q < 1 || q > n || seen[q] {
			t.Fatalf("sequences %v: want each of 1..%d once", seqs, n)
		}
		seen[q] = true
	}
	top := uint64(0)
	for _, c := range r.changes() {
		top = max(top, c.Seq)
	}
	if top != n {
		t.Fatalf("the newest sequence raised is %d, want %d", top, n)
	}
}
