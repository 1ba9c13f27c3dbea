package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/state"
)

// Back-off after failed logins, per (user, client) for ActiveSync and per
// client for the dashboard.
const (
	freeFailures    = 5                // attempts allowed before any wait
	maxBlock        = 5 * time.Minute  // longest wait
	failureMemory   = 15 * time.Minute // a quiet client is forgotten after this
	maxTrackedHosts = 10000            // bounds the memory an address scan can take
)

// Password checks (bcrypt, ~55 ms each at the default cost here) are CPU
// an unauthenticated client spends; these bound it.
const (
	// checksPerClient run at once for one client; checksQueuedPerClient
	// more wait (a NAT's phones all logging in after a restart), and
	// beyond those the client gets 429 at once.
	checksPerClient       = 2
	checksQueuedPerClient = 32
	// checkWait bounds the wait for a slot, so a flood is answered 429
	// rather than piling up connections.
	checkWait = 10 * time.Second
)

// Auth checks HTTP Basic credentials against the users file.
type Auth struct {
	users *Users
	realm string
	fails *backoff
	gate  *checkGate
	log   *slog.Logger
	// metrics counts failures; nil counts nothing.
	metrics *metrics
}

// NewAuth returns an authenticator for realm.
func NewAuth(users *Users, realm string, log *slog.Logger) *Auth {
	return &Auth{
		users: users, realm: realm, fails: newBackoff(time.Now), log: log,
		gate: newCheckGate(max(2, runtime.GOMAXPROCS(0)), checksPerClient, checksQueuedPerClient),
	}
}

// Check returns the normalised user of a request, or writes 401 (or 429 for
// a user and client that failed too often, or while too many checks are
// under way) and returns false. It never logs the password or the header.
//
// The back-off is keyed by user and client: a phone with a stale password
// behind a carrier NAT delays only its own user there, and a correct
// password from a client that is not failing for that user is never
// refused for someone else's failures. An attempt is counted before its
// bcrypt comparison starts, so concurrent guesses cannot all slip in
// before the first failure is recorded.
func (a *Auth) Check(w http.ResponseWriter, r *http.Request) (string, bool) {
	creds, err := eas.ParseBasicAuth(r.Header.Get("Authorization"))
	if err != nil {
		if !errors.Is(err, eas.ErrNoCredentials) {
			a.metrics.authFailed(realmActiveSync)
			a.log.Info("login failed: malformed credentials", "client", clientHost(r))
		}
		a.unauthorized(w)
		return "", false
	}
	client := clientKey(r)
	// An unparsable user name shares one back-off per client: it is
	// refused either way, and must not open a fresh allowance per spelling.
	user, _ := state.NormalizeUser(creds.User)
	key := user + "\x00" + client
	if wait := a.fails.blocked(key); wait > 0 {
		a.tooMany(w, wait, "too many failed logins for this user from this address; wait and retry")
		return "", false
	}
	var refused time.Duration
	busy, began := false, false
	admit := func() (func(), bool) {
		release, ok := a.gate.enter(r.Context(), client)
		if !ok {
			busy = true
			return nil, false
		}
		if wait, ok := a.fails.begin(key); !ok {
			release()
			refused = wait
			return nil, false
		}
		began = true
		return release, true
	}
	switch a.users.verify(creds.User, creds.Password, admit) {
	case verifyOK:
		a.fails.succeeded(key)
		return user, true
	case verifyRefused:
		if busy {
			a.metrics.refusedBusy()
			a.tooMany(w, time.Second, "too many logins under way from this address or in all; retry")
		} else {
			a.tooMany(w, refused, "too many failed logins for this user from this address; wait and retry")
		}
		return "", false
	}
	// A login that shared another's comparison began no attempt of its own.
	n, locked := a.fails.failed(key, began)
	a.metrics.authFailed(realmActiveSync)
	if locked {
		a.metrics.lockedOut(realmActiveSync)
	}
	// Credentials format as the login only.
	a.log.Info("login failed", "client", client, "login", creds.String(), "failures", n)
	a.unauthorized(w)
	return "", false
}

func (a *Auth) unauthorized(w http.ResponseWriter) {
	// Exact case, as Exchange sends it (see options).
	w.Header()["WWW-Authenticate"] = []string{fmt.Sprintf("Basic realm=%q", a.realm)}
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

func (a *Auth) tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	http.Error(w, msg, http.StatusTooManyRequests)
}

func clientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientKey is the client's address as the back-off and the check gate
// count it: an IPv6 client by its /64, the smallest block a site is
// given, since one host can use every address in it.
func clientKey(r *http.Request) string {
	host := clientHost(r)
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

// backoff counts consecutive failures per key and makes the key wait,
// doubling from one second once freeFailures attempts failed, up to
// maxBlock. Attempts under way count: once the free ones are spent by
// failures and attempts in flight, one attempt at a time goes ahead.
type backoff struct {
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

func newBackoff(now func() time.Time) *backoff {
	return &backoff{now: now, hosts: map[string]*failures{}}
}

// blocked returns how long key must still wait.
func (b *backoff) blocked(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.hosts[key]
	if !ok {
		return 0
	}
	return max(f.until.Sub(b.now()), 0)
}

// begin counts an attempt of key, or returns how long to wait when none
// may start now; every begun attempt ends with failed or succeeded.
func (b *backoff) begin(key string) (time.Duration, bool) {
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
	if f.count+f.inflight >= freeFailures && f.inflight > 0 {
		return time.Second, false
	}
	f.inflight++
	return 0, true
}

// entryLocked returns key's entry, made fresh when new or forgotten; nil
// with a wait when the table is full of clients that must not be
// dropped.
func (b *backoff) entryLocked(key string, now time.Time) (*failures, time.Duration) {
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

func (b *backoff) forgotten(f *failures, now time.Time) bool {
	return f.inflight == 0 && now.Sub(f.last) > failureMemory && !now.Before(f.until)
}

// failed records a failure of key, ending the attempt it began if began.
// It returns the consecutive count and whether key must now wait.
func (b *backoff) failed(key string, began bool) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	f, _ := b.entryLocked(key, now)
	if f == nil {
		return 0, false
	}
	if began {
		// After succeeded dropped the entry, the attempt is no longer
		// counted in it.
		f.inflight = max(f.inflight-1, 0)
	}
	f.count++
	f.last = now
	if over := f.count - freeFailures; over >= 0 {
		f.until = now.Add(min(time.Second<<min(over, 16), maxBlock))
		return f.count, true
	}
	return f.count, false
}

func (b *backoff) succeeded(key string) {
	b.mu.Lock()
	delete(b.hosts, key)
	b.mu.Unlock()
}

// evictLocked drops forgotten entries, and when none are, the stalest
// one that is neither waiting nor trying, so the map never grows past
// maxTrackedHosts. A client that is waiting is never dropped: filling the
// table from other addresses would otherwise end its wait. When every
// entry is held, it returns how long until the first may go.
func (b *backoff) evictLocked(now time.Time) time.Duration {
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

// checkGate bounds the password checks under way: perClient at once per
// client, with queued more waiting behind them, and total at once in all.
type checkGate struct {
	total             chan struct{}
	perClient, queued int
	mu                sync.Mutex
	clients           map[string]*clientChecks
}

type clientChecks struct {
	slots chan struct{}
	users int // running and waiting
}

func newCheckGate(total, perClient, queued int) *checkGate {
	return &checkGate{total: make(chan struct{}, total), perClient: perClient, queued: queued, clients: map[string]*clientChecks{}}
}

// enter waits for a slot for client; false when its queue is full, the
// wait took longer than checkWait, or ctx ended. release frees the slot.
func (g *checkGate) enter(ctx context.Context, client string) (release func(), ok bool) {
	g.mu.Lock()
	c := g.clients[client]
	if c == nil {
		c = &clientChecks{slots: make(chan struct{}, g.perClient)}
		g.clients[client] = c
	}
	if c.users >= g.perClient+g.queued {
		g.mu.Unlock()
		return nil, false
	}
	c.users++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		if c.users--; c.users == 0 {
			delete(g.clients, client)
		}
		g.mu.Unlock()
	}
	timer := time.NewTimer(checkWait)
	defer timer.Stop()
	select {
	case c.slots <- struct{}{}:
	case <-timer.C:
		leave()
		return nil, false
	case <-ctx.Done():
		leave()
		return nil, false
	}
	select {
	case g.total <- struct{}{}:
	case <-timer.C:
		<-c.slots
		leave()
		return nil, false
	case <-ctx.Done():
		<-c.slots
		leave()
		return nil, false
	}
	return func() {
		<-g.total
		<-c.slots
		leave()
	}, true
}
