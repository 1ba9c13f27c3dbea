package push

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pushca/pushca/eas"
)

// Back-off after failed logins, per client address.
const (
	freeFailures    = 5                // failures allowed before any wait
	maxBlock        = 5 * time.Minute  // longest wait
	failureMemory   = 15 * time.Minute // a quiet address is forgotten after this
	maxTrackedHosts = 10000            // bounds the memory an address scan can take
)

// Auth checks HTTP Basic credentials against the users file.
type Auth struct {
	users *Users
	realm string
	fails *backoff
	log   *slog.Logger
	// metrics counts failures; nil counts nothing.
	metrics *metrics
}

// NewAuth returns an authenticator for realm.
func NewAuth(users *Users, realm string, log *slog.Logger) *Auth {
	return &Auth{users: users, realm: realm, fails: newBackoff(time.Now), log: log}
}

// Check returns the normalised user of a request, or writes 401 (or 429 for
// an address that failed too often) and returns false. It never logs the
// password or the header.
func (a *Auth) Check(w http.ResponseWriter, r *http.Request) (string, bool) {
	host := clientHost(r)
	if wait := a.fails.blocked(host); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		http.Error(w, "too many failed logins from this address; wait and retry", http.StatusTooManyRequests)
		return "", false
	}
	creds, err := eas.ParseBasicAuth(r.Header.Get("Authorization"))
	if err == nil && a.users.Verify(creds.User, creds.Password) {
		a.fails.succeeded(host)
		user, _ := NormalizeUser(creds.User)
		return user, true
	}
	if !errors.Is(err, eas.ErrNoCredentials) {
		// Credentials format as the login only.
		n := a.fails.failed(host)
		a.metrics.authFailed(realmActiveSync)
		a.log.Info("login failed", "client", host, "login", creds.String(), "failures", n)
	}
	// Exact case, as Exchange sends it (see options).
	w.Header()["WWW-Authenticate"] = []string{fmt.Sprintf("Basic realm=%q", a.realm)}
	http.Error(w, "authentication required", http.StatusUnauthorized)
	return "", false
}

func clientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// backoff counts consecutive failures per address and makes the address
// wait, doubling from one second after freeFailures, up to maxBlock.
type backoff struct {
	now func() time.Time

	mu    sync.Mutex
	hosts map[string]*failures
}

type failures struct {
	count int
	last  time.Time
	until time.Time
}

func newBackoff(now func() time.Time) *backoff {
	return &backoff{now: now, hosts: map[string]*failures{}}
}

// blocked returns how long host must still wait.
func (b *backoff) blocked(host string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.hosts[host]
	if !ok {
		return 0
	}
	return max(f.until.Sub(b.now()), 0)
}

// failed records a failure and returns the consecutive count.
func (b *backoff) failed(host string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	f, ok := b.hosts[host]
	if !ok {
		if len(b.hosts) >= maxTrackedHosts {
			b.evictLocked(now)
		}
		f = &failures{}
		b.hosts[host] = f
	} else if now.Sub(f.last) > failureMemory && !now.Before(f.until) {
		*f = failures{}
	}
	f.count++
	f.last = now
	if over := f.count - freeFailures; over > 0 {
		f.until = now.Add(min(time.Second<<min(over-1, 16), maxBlock))
	}
	return f.count
}

func (b *backoff) succeeded(host string) {
	b.mu.Lock()
	delete(b.hosts, host)
	b.mu.Unlock()
}

// evictLocked drops forgotten entries, and when none are, the stalest one,
// so the map never grows past maxTrackedHosts.
func (b *backoff) evictLocked(now time.Time) {
	var stalest string
	for h, f := range b.hosts {
		if now.Sub(f.last) > failureMemory && now.After(f.until) {
			delete(b.hosts, h)
			continue
		}
		if stalest == "" || f.last.Before(b.hosts[stalest].last) {
			stalest = h
		}
	}
	if len(b.hosts) >= maxTrackedHosts {
		delete(b.hosts, stalest)
	}
}
