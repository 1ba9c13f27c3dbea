package push

import (
	"os"
	"sync"
	"time"
)

// fileWatch tells whether files changed since the last look, by modification
// time and size, looking at most once per interval so that a handshake or a
// login costs a stat only now and then.
type fileWatch struct {
	interval time.Duration

	mu      sync.Mutex
	checked time.Time
	seen    map[string]stamp
}

type stamp struct {
	mod  time.Time
	size int64
	ok   bool
}

func newFileWatch(interval time.Duration) *fileWatch {
	return &fileWatch{interval: interval, seen: map[string]stamp{}}
}

// changed reports whether any of paths differs from the previous call that
// looked (a file appearing or vanishing counts). The first look always
// reports a change.
func (w *fileWatch) changed(paths ...string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if !w.checked.IsZero() && now.Sub(w.checked) < w.interval {
		return false
	}
	first := w.checked.IsZero()
	w.checked = now
	diff := false
	for _, p := range paths {
		var s stamp
		if fi, err := os.Stat(p); err == nil {
			s = stamp{fi.ModTime(), fi.Size(), true}
		}
		if s != w.seen[p] {
			diff = true
			w.seen[p] = s
		}
	}
	return first || diff
}

// forget makes the next call look, whatever the interval.
func (w *fileWatch) forget() {
	w.mu.Lock()
	w.checked = time.Time{}
	w.mu.Unlock()
}
