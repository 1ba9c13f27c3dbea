package backoff

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Back-off after failed logins, per (user, client) for ActiveSync and per
// client for the dashboard.
const (
	FreeFailures    = 5                // attempts allowed before any wait
	maxBlock        = 5 * time.Minute  // longest wait
	failureMemory   = 15 * time.Minute // a quiet client is forgotten after this
	maxTrackedHosts = 10000            // bounds the memory an address scan can take
)

// ClientHost is the address of a request's client, for log lines.
func ClientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ClientKey is the client's address as the back-offs and the endpoint's
// password check gate count it: an IPv6 client by its /64, the smallest block a site is
// given, since one host can use every address in it.
func ClientKey(r *http.Request) string {
	host := ClientHost(r)
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// Backoff counts consecutive failures per key and makes the key wait,
// doubling from one second once FreeFailures attempts failed, up to
// maxBlock. Attempts under way count: once the free ones are spent by
// failures and attempts in flight, one attempt at a time goes ahead.
type Backoff struct {
	now func() time.Time

	mu    sync.Mutex
	hosts map[string]*failures
}

type failures struct {
	count    int // failures
	inflight int // attempts begun, not yet ended
	last     time.Time
	until    time.Time
}

// New returns a back-off reading the time from now.
func New(now func() time.Time) *Backoff {
	return &Backoff{now: now, hosts: map[string]*failures{}}
}

// Blocked returns how long key must still wait.
func (b *Backoff) Blocked(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.hosts[key]
	if !ok {
		return 0
	}
	return max(f.until.Sub(b.now()), 0)
}

// Begin counts an attempt of key, or returns how long to wait when none
// may start now; every begun attempt ends with Failed or Succeeded.
func (b *Backoff) Begin(key string) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	f, wait := b.entryLocked(key, now)
	if f == nil {
		return wait, false
	}
	if now.Before(f.until) {
		return f.until.Sub(now), false
	}
	if f.count+f.inflight >= FreeFailures && f.inflight > 0 {
		return time.Second, false
	}
	f.inflight++
	return 0, true
}

// entryLocked returns key's entry, made fresh when new or forgotten; nil
// with a wait when the table is full of clients that must not be
// dropped.
func (b *Backoff) entryLocked(key string, now time.Time) (*failures, time.Duration) {
	f, ok := b.hosts[key]
	switch {
	case !ok:
		if len(b.hosts) >= maxTrackedHosts {
			if wait := b.evictLocked(now); wait > 0 {
				return nil, wait
			}
		}
		f = &failures{}
		b.hosts[key] = f
	case b.forgotten(f, now):
		*f = failures{}
	}
	return f, 0
}

func (b *Backoff) forgotten(f *failures, now time.Time) bool {
	return f.inflight == 0 && now.Sub(f.last) > failureMemory && !now.Before(f.until)
}

// Failed records a failure of key, ending the attempt it began if began.
// It returns the consecutive count and whether key must now wait.
func (b *Backoff) Failed(key string, began bool) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	f, _ := b.entryLocked(key, now)
	if f == nil {
		return 0, false
	}
	if began {
		// After Succeeded dropped the entry, the attempt is no longer
		// counted in it.
		f.inflight = max(f.inflight-1, 0)
	}
	f.count++
	f.last = now
	if over := f.count - FreeFailures; over >= 0 {
		f.until = now.Add(min(time.Second<<min(over, 16), maxBlock))
		return f.count, true
	}
	return f.count, false
}

// Succeeded ends key's attempt and forgets its failures.
func (b *Backoff) Succeeded(key string) {
	b.mu.Lock()
	delete(b.hosts, key)
	b.mu.Unlock()
}

// evictLocked drops forgotten entries, and when none are, the stalest
// one that is neither waiting nor trying, so the map never grows past
// maxTrackedHosts. A client that is waiting is never dropped: filling the
// table from other addresses would otherwise end its wait. When every
// entry is held, it returns how long until the first may go.
func (b *Backoff) evictLocked(now time.Time) time.Duration {
	var stalest string
	var soonest time.Duration
	for k, f := range b.hosts {
		if b.forgotten(f, now) {
			delete(b.hosts, k)
			continue
		}
		if now.Before(f.until) || f.inflight > 0 {
			if w := max(f.until.Sub(now), time.Second); soonest == 0 || w < soonest {
				soonest = w
			}
			continue
		}
		if stalest == "" || f.last.Before(b.hosts[stalest].last) {
			stalest = k
		}
	}
	if len(b.hosts) < maxTrackedHosts {
		return 0
	}
	if stalest == "" {
		return soonest
	}
	delete(b.hosts, stalest)
	return 0
}
