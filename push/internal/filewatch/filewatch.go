package filewatch

import (
	"os"
	"sync"
	"time"
)

// Watch tells whether files changed since the last look, by modification
// time and size, looking at most once per interval so that a handshake or a
// login costs a stat only now and then.
type Watch struct {
	interval time.Duration

	mu      sync.Mutex
	checked time.Time
	seen    map[string]os.FileInfo
}

// New returns a Watch that looks at most once per interval.
func New(interval time.Duration) *Watch {
	return &Watch{interval: interval, seen: map[string]os.FileInfo{}}
}

// same compares through symlinks: a swapped "current" link points at
// another file even when time and size happen to match.
func same(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// Changed reports whether any of paths differs from the previous call that
// looked (a file appearing or vanishing counts). The first look always
// reports a change.
func (w *Watch) Changed(paths ...string) bool {
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

// Forget makes the next call look, whatever the interval.
func (w *Watch) Forget() {
	w.mu.Lock()
	w.checked = time.Time{}
	w.mu.Unlock()
}

// Retry makes the next look (after the interval) report a change, for a
// caller whose reload failed half-way through a rewrite of the files.
func (w *Watch) Retry() {
	w.mu.Lock()
	clear(w.seen)
	w.mu.Unlock()
}
