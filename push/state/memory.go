package state

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"
)

// MaxMessagesPerFolder bounds the memory a folder of the in-memory
// mailbox can take: older messages go.
const MaxMessagesPerFolder = 1000

// Memory is the mailbox of one process, kept in memory (a restart empties
// it), with a feed that never loses a change, so it never raises Resync.
// Several subscribers on one Memory behave as endpoints sharing a store.
type Memory struct {
	mu     sync.Mutex
	boxes  map[string]map[string]*memFolder // user → folder id
	nextID uint64

	feed Fanout
}

type memFolder struct {
	seq   uint64
	items []Message
}

// NewMemory returns an empty mailbox.
func NewMemory() *Memory {
	return &Memory{boxes: map[string]map[string]*memFolder{}}
}

// Deliver implements Mailbox.
func (s *Memory) Deliver(ctx context.Context, user, folder string, m Message) (Message, error) {
	s.mu.Lock()
	box := s.boxes[user]
	if box == nil {
		box = map[string]*memFolder{}
		s.boxes[user] = box
	}
	f := box[folder]
	if f == nil {
		f = &memFolder{}
		box[folder] = f
	}
	f.seq++
	s.nextID++
	m.ID = folder + ":" + strconv.FormatUint(s.nextID, 10)
	m.Seq = f.seq
	if m.Received.IsZero() {
		m.Received = time.Now().UTC()
	}
	f.items = append(f.items, m)
	if len(f.items) > MaxMessagesPerFolder {
		f.items = slices.Delete(f.items, 0, len(f.items)-MaxMessagesPerFolder)
	}
	s.mu.Unlock()
	// Outside the lock: a subscriber reading the mailbox must not wait on
	// it, and the order two deliveries' changes arrive in does not matter.
	s.feed.Raise(ctx, Change{Kind: FolderChanged, User: user, Folder: folder, Seq: m.Seq})
	return m, nil
}

// Since implements Mailbox.
func (s *Memory) Since(ctx context.Context, user, folder string, seq uint64) ([]Message, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.boxes[user][folder]
	if f == nil {
		return nil, 0, nil
	}
	var out []Message
	for _, m := range f.items {
		if m.Seq > seq {
			out = append(out, m)
		}
	}
	return out, f.seq, nil
}

// Seqs implements Mailbox.
func (s *Memory) Seqs(ctx context.Context, users []string) (map[string]map[string]uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]uint64, len(users))
	for _, u := range users {
		box := s.boxes[u]
		if len(box) == 0 {
			continue
		}
		seqs := make(map[string]uint64, len(box))
		for id, f := range box {
			seqs[id] = f.seq
		}
		out[u] = seqs
	}
	return out, nil
}

// Subscribe implements Feed.
func (s *Memory) Subscribe(fn func(context.Context, Change)) (stop func()) {
	return s.feed.Subscribe(fn)
}

// Publish implements Feed.
func (s *Memory) Publish(ctx context.Context, c Change) error {
	s.feed.Raise(ctx, c)
	return nil
}

// Fanout calls its subscribers on the raising goroutine: the local half
// of every Feed. The read lock is held through the calls, so none runs
// once stop has returned.
type Fanout struct {
	mu   sync.RWMutex
	subs map[*func(context.Context, Change)]bool
}

// Subscribe is Feed's.
func (f *Fanout) Subscribe(fn func(context.Context, Change)) (stop func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[*func(context.Context, Change)]bool{}
	}
	key := &fn
	f.subs[key] = true
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, key)
	}
}

// Raise calls every subscriber with c.
func (f *Fanout) Raise(ctx context.Context, c Change) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for fn := range f.subs {
		(*fn)(ctx, c)
	}
}
