package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/internal/backoff"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/state"
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
	fails *backoff.Backoff
	gate  *checkGate
	log   *slog.Logger
	// metrics counts failures; nil counts nothing.
	metrics *ops.Metrics
}

// NewAuth returns an authenticator for realm.
func NewAuth(users *Users, realm string, log *slog.Logger) *Auth {
	return &Auth{
		users: users, realm: realm, fails: backoff.New(time.Now), log: log,
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
			a.metrics.AuthFailed(ops.RealmActiveSync)
			a.log.Info("login failed: malformed credentials", "client", backoff.ClientHost(r))
		}
		a.unauthorized(w)
		return "", false
	}
	client := backoff.ClientKey(r)
	// An unparsable user name shares one back-off per client: it is
	// refused either way, and must not open a fresh allowance per spelling.
	user, _ := state.NormalizeUser(creds.User)
	key := user + "\x00" + client
	if wait := a.fails.Blocked(key); wait > 0 {
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
		if wait, ok := a.fails.Begin(key); !ok {
			release()
			refused = wait
			return nil, false
		}
		began = true
		return release, true
	}
	switch a.users.verify(creds.User, creds.Password, admit) {
	case verifyOK:
		a.fails.Succeeded(key)
		return user, true
	case verifyRefused:
		if busy {
			a.metrics.RefusedBusy()
			a.tooMany(w, time.Second, "too many logins under way from this address or in all; retry")
		} else {
			a.tooMany(w, refused, "too many failed logins for this user from this address; wait and retry")
		}
		return "", false
	}
	// A login that shared another's comparison began no attempt of its own.
	n, locked := a.fails.Failed(key, began)
	a.metrics.AuthFailed(ops.RealmActiveSync)
	if locked {
		a.metrics.LockedOut(ops.RealmActiveSync)
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
