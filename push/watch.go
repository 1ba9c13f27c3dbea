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
	seen    map[string]os.FileInfo
}

func newFileWatch(interval time.Duration) *fileWatch {
	return &fileWatch{interval: interval, seen: map[string]os.FileInfo{}}
}

// same compares through symlinks: a swapped "current" link points at
// another file even when time and size happen to match.
func same(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
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
		fi, _ := os.Stat(p)
		if !same(fi, w.seen[p]) {
			diff = true
			w.seen[p] = fi
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

// retry makes the next look (after the interval) report a change, for a
// caller whose reload failed half-way through a rewrite of the files.
func (w *fileWatch) retry() {
	w.mu.Lock()
	clear(w.seen)
	w.mu.Unlock()
}
