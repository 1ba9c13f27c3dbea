package ca

import "sync"

// hostLocks serialises the operations on one host (check for an active
// certificate, sign, record, switch the link) while other hosts proceed.
type hostLocks struct {
	mu sync.Mutex
	m  map[string]*hostLock
}

type hostLock struct {
	sync.Mutex
	users int // holders and waiters; the entry goes when it drops to 0
}

// lock takes host's lock and returns its release.
func (h *hostLocks) lock(host string) (unlock func()) {
	h.mu.Lock()
	if h.m == nil {
		h.m = map[string]*hostLock{}
	}
	l := h.m[host]
	if l == nil {
		l = &hostLock{}
		h.m[host] = l
	}
	l.users++
	h.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		h.mu.Lock()
		if l.users--; l.users == 0 {
			delete(h.m, host)
		}
		h.mu.Unlock()
	}
}
