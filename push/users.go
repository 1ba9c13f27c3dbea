package push

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/push/state"
)

// maxPassword is bcrypt's input limit; longer passwords would be cut
// silently by other implementations, so they are refused.
const maxPassword = 72

// Users verifies logins against the users of a state.UserSource, looked at again
// when it changes so that `pushca users add` takes effect on a running
// server.
//
// A source that changed but cannot be read fails closed: until it is
// fixed, only the users it still vouches for can log in (a users file that
// no longer parses: those whose line is unchanged; a file or a database
// that cannot be read: nobody), entries that cannot be a user's count for
// nothing, and the error is logged. Keeping the last good list whole would
// let a user removed in the same edit in; denying everyone would lock out a
// fleet over one line in a format pushca does not read.
type Users struct {
	src  state.UserSource
	cost int
	log  *slog.Logger
	// compare is bcrypt's; a test counts the calls through it.
	compare func(hash, password []byte) error
	now     func() time.Time
	// macKey keys the verified cache: it holds a MAC of the password
	// under this process's random key, never the password or a plain hash.
	macKey []byte

	mu     sync.Mutex
	hashes map[string][]byte
	err    error
	// interval is how often, at most, the source is asked for changes;
	// checked is when it last was (zero: at the next look).
	interval time.Duration
	checked  time.Time
	// looking is closed when the look at the source under way ends, nil
	// when none is. Others go on with what is known meanwhile, so that a
	// slow database holds one login, not all; but the login of a user not
	// known yet waits for it, as it may be what brings the user in (one
	// just added, whose devices all log in at once).
	looking chan struct{}
	// waitingForLook, when set, is told that a login waits for looking; a
	// test holds the look until then.
	waitingForLook func()
	// stale: read at the next look whatever the source says, as the last
	// read failed and the failure may pass (too many open files).
	stale bool
	// dummy is compared against when the user is unknown, so the answer
	// takes as long as for a known user with a wrong password: it is made
	// at the highest cost among the users (files from `htpasswd -B` use
	// 5, bcrypt.DefaultCost is 10).
	dummy []byte
	// verified remembers the last good login per user, so a device's
	// re-Ping every few minutes costs an HMAC, not a bcrypt comparison
	// (~125 ms at the default cost on a 2-core test machine: 19,000
	// devices would keep both cores busy).
	verified map[string]verifiedLogin
	// checking are the comparisons under way, by password MAC and hash.
	checking map[string]*pendingCheck
}

// verifiedTTL bounds how long a verified password is trusted without
// bcrypt. A password changed or a user removed takes effect as soon as the
// source is looked at again (within a second), whatever the TTL, since an
// entry only matches the hash it was checked against.
const verifiedTTL = 15 * time.Minute

type verifiedLogin struct {
	hash  []byte // the hash the password matched
	mac   []byte
	until time.Time
}

// UsersFileCheck is how often, at most, a server looks at its users (the
// file's stamp, or the database's change counter) for changes: a user
// added by another process, or on another host, can log in that long
// after.
const UsersFileCheck = time.Second

// sourceTimeout bounds one look at, or edit of, the source. A look is not
// bound to the request that happened to make it: it serves every login.
const sourceTimeout = 10 * time.Second

// OpenUsers reads the users file at path (a missing file is an empty list).
// cost is the bcrypt cost of new hashes; 0 means bcrypt.DefaultCost.
func OpenUsers(path string, cost int) (*Users, error) {
	return NewUsers(state.FileUsers(path), cost, nil)
}

// NewUsers reads the users of src, logging to log (nil: nowhere) the
// source's failures and hashes at another cost than cost, which is that of
// new hashes (0 means bcrypt.DefaultCost).
func NewUsers(src state.UserSource, cost int, log *slog.Logger) (*Users, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	macKey := make([]byte, 32)
	rand.Read(macKey)
	u := &Users{
		src: src, cost: cost, log: log, interval: UsersFileCheck,
		compare: bcrypt.CompareHashAndPassword, now: time.Now, macKey: macKey,
		verified: map[string]verifiedLogin{}, checking: map[string]*pendingCheck{},
	}
	ctx, cancel := context.WithTimeout(context.Background(), sourceTimeout)
	defer cancel()
	// The first look, which the read below answers.
	if _, err := src.Changed(ctx); err != nil {
		return nil, err
	}
	hashes, err := src.Read(ctx, nil)
	if err == nil {
		hashes, err = confirmed(hashes)
	}
	if err != nil {
		return nil, err
	}
	u.hashes, u.checked = hashes, time.Now()
	if err := u.fitDummy(hashes); err != nil {
		return nil, err
	}
	return u, nil
}

// refresh looks at the source when the interval has passed and no look is
// under way, and returns the error of the last read.
func (u *Users) refresh() error {
	u.mu.Lock()
	if u.looking != nil || time.Since(u.checked) < u.interval {
		defer u.mu.Unlock()
		return u.err
	}
	done := make(chan struct{})
	u.looking, u.checked = done, time.Now()
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.looking = nil
		u.mu.Unlock()
		close(done)
	}()
	return u.look()
}

// look reads the source when it changed (or the last read failed). A
// source that cannot tell whether it changed vouches for nobody.
func (u *Users) look() error {
	ctx, cancel := context.WithTimeout(context.Background(), sourceTimeout)
	defer cancel()
	changed, err := u.src.Changed(ctx)
	u.mu.Lock()
	last, stale, lastErr := u.hashes, u.stale, u.err
	u.mu.Unlock()
	if err == nil && !changed && !stale {
		return lastErr
	}
	var hashes map[string][]byte
	if err == nil {
		hashes, err = u.src.Read(ctx, last)
	}
	return u.take(hashes, err)
}

// take makes hashes, which the source returned with err, the users: those
// that can be a user's (see confirmed).
func (u *Users) take(hashes map[string][]byte, err error) error {
	hashes, bad := confirmed(hashes)
	err = errors.Join(err, bad)
	u.mu.Lock()
	prevErr := u.err
	u.hashes, u.err, u.stale = hashes, err, err != nil
	u.mu.Unlock()
	if err != nil {
		if prevErr == nil || prevErr.Error() != err.Error() {
			u.log.Error("users changed but cannot all be read; until they can, only the users the source still vouches for can log in",
				"source", u.src.String(), "err", err, "users_kept", len(hashes))
		}
		return err
	}
	if prevErr != nil {
		u.log.Info("users read again", "source", u.src.String(), "users", len(hashes))
	}
	return u.fitDummy(hashes)
}

// confirmed drops the entries of hashes that cannot be a user's (a row a
// database was given by hand), saying which.
func confirmed(hashes map[string][]byte) (map[string][]byte, error) {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(hashes)) {
		if err := state.CheckUser(name, hashes[name]); err != nil {
			delete(hashes, name)
			errs = append(errs, err)
		}
	}
	return hashes, errors.Join(errs...)
}

// lookNow makes the next refresh look at the source, whatever the
// interval.
func (u *Users) lookNow() {
	u.mu.Lock()
	u.checked = time.Time{}
	u.mu.Unlock()
}

// fitDummy makes the dummy hash at the highest cost among the users (the
// configured cost when there are none) when it is not at that cost yet,
// and warns about hashes at another cost than the configured one: their
// users answer faster or slower than the others, which tells them apart.
func (u *Users) fitDummy(hashes map[string][]byte) error {
	top := 0
	var odd []string
	for name, h := range hashes {
		c, _ := bcrypt.Cost(h) // confirmed checked it
		top = max(top, c)
		if c != u.cost {
			odd = append(odd, fmt.Sprintf("%s (cost %d)", name, c))
		}
	}
	if top == 0 {
		top = u.cost
	}
	if len(odd) > 0 {
		slices.Sort(odd)
		u.log.Warn("users: password hashes at another bcrypt cost than the configured one; login times tell these users apart, so set their passwords again with `pushca users add`",
			"configured_cost", u.cost, "users", strings.Join(odd, ", "))
	}
	u.mu.Lock()
	have, err := bcrypt.Cost(u.dummy)
	u.mu.Unlock()
	if err == nil && have == top {
		return nil
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	dummy, err := bcrypt.GenerateFromPassword(secret, top)
	if err != nil {
		return fmt.Errorf("users: dummy hash at cost %d: %w", top, err)
	}
	u.mu.Lock()
	u.dummy = dummy
	u.mu.Unlock()
	return nil
}

// Reload reads the users now (SIGHUP), whatever the source says changed.
func (u *Users) Reload() error {
	u.mu.Lock()
	u.stale = true
	u.mu.Unlock()
	return u.look()
}

// Verify says whether password is name's. Unknown users cost one bcrypt
// comparison too.
func (u *Users) Verify(name, password string) bool {
	return u.verify(name, password, nil) == verifyOK
}

type verdict int

const (
	verifyWrong verdict = iota
	verifyOK
	// verifyRefused: admit turned the bcrypt comparison down.
	verifyRefused
)

// verify is Verify asking admit, when set, before a bcrypt comparison
// (a login the verified cache answers needs none); admit's release runs
// once the comparison is done. Identical credentials checked at once (a
// fleet's devices of one user after a restart) share one comparison, and
// one admission.
func (u *Users) verify(name, password string, admit func() (release func(), ok bool)) verdict {
	_ = u.refresh() // logged there; a broken file keeps its unchanged users
	norm, err := state.NormalizeUser(name)
	mac := u.mac(norm, password)
	waited := false
	for {
		u.mu.Lock()
		hash, ok := u.hashes[norm]
		if look := u.looking; !ok && err == nil && look != nil && !waited {
			u.mu.Unlock()
			if u.waitingForLook != nil {
				u.waitingForLook()
			}
			<-look // bounded by the look's own timeout
			waited = true
			continue
		}
		cached, hit := u.verified[norm]
		if err != nil || !ok || len(password) > maxPassword {
			hash, ok, hit = u.dummy, false, false
		}
		if hit && hmac.Equal(cached.mac, mac) && bytes.Equal(cached.hash, hash) && u.now().Before(cached.until) {
			u.mu.Unlock()
			return verifyOK
		}
		key := string(mac) + string(hash)
		if c := u.checking[key]; c != nil {
			u.mu.Unlock()
			<-c.done
			if c.result == verifyRefused {
				continue // its admission, not these credentials, was refused
			}
			return c.result
		}
		c := &pendingCheck{done: make(chan struct{})}
		u.checking[key] = c
		u.mu.Unlock()
		c.result = u.compareAdmitted(norm, password, hash, mac, ok, admit)
		u.mu.Lock()
		delete(u.checking, key)
		u.mu.Unlock()
		close(c.done)
		return c.result
	}
}

// pendingCheck is a bcrypt comparison under way; result is set before done
// is closed.
type pendingCheck struct {
	done   chan struct{}
	result verdict
}

// compareAdmitted runs the comparison once admit lets it, and caches a
// success. known says whether hash is the user's (not the dummy).
func (u *Users) compareAdmitted(norm, password string, hash, mac []byte, known bool, admit func() (func(), bool)) verdict {
	if admit != nil {
		release, admitted := admit()
		if !admitted {
			return verifyRefused
		}
		defer release()
	}
	if u.compare(hash, []byte(password)) != nil || !known {
		return verifyWrong
	}
	u.mu.Lock()
	u.verified[norm] = verifiedLogin{hash: hash, mac: mac, until: u.now().Add(verifiedTTL)}
	u.mu.Unlock()
	return verifyOK
}

func (u *Users) mac(user, password string) []byte {
	m := hmac.New(sha256.New, u.macKey)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	return m.Sum(nil)
}

// Has says whether a user exists. A user known from the last look is
// answered without a new one: the admin API asks before every test
// delivery, which must not wait for a round trip to the source (on
// PostgreSQL, any delivery a second or more after the last look did), and
// a test message to a user removed within the last second is harmless. A
// name not known looks, or waits for the look under way, so that a user
// just added is found.
func (u *Users) Has(name string) bool {
	norm, err := state.NormalizeUser(name)
	if err != nil {
		return false
	}
	if ok, _ := u.known(norm); ok {
		return true
	}
	_ = u.refresh()
	ok, look := u.known(norm)
	if !ok && look != nil {
		<-look // bounded by the look's own timeout
		ok, _ = u.known(norm)
	}
	return ok
}

// known says whether norm is among the users read last, and which look is
// under way, if any.
func (u *Users) known(norm string) (bool, chan struct{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.hashes[norm]
	return ok, u.looking
}

// List returns the user names in order.
func (u *Users) List() ([]string, error) {
	if err := u.refresh(); err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	names := make([]string, 0, len(u.hashes))
	for n := range u.hashes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// Add sets name's password, adding the user when new (a users file is
// rewritten atomically, 0600). A name with a domain (DOMAIN\user,
// user@domain) may add its user but never change an existing one's
// password: the domain is not stored, so jdoe@partner.example would
// silently take over jdoe@corp.example's account. The bare name changes a
// password.
func (u *Users) Add(name, password string) error {
	norm, err := state.NormalizeUser(name)
	if err != nil {
		return err
	}
	_, qualified := state.SplitLogin(name)
	if password == "" || len(password) > maxPassword {
		return fmt.Errorf("password for %s: must be 1 to %d bytes", norm, maxPassword)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), u.cost)
	if err != nil {
		return fmt.Errorf("hash password for %s: %w", norm, err)
	}
	return u.edit(norm, func(current []byte) ([]byte, error) {
		if current != nil && qualified {
			return nil, fmt.Errorf("user %[1]s already exists, and a name with a domain would replace its password: logins keep no domain (DOMAIN\\%[1]s and %[1]s@any.domain are all %[1]s), so two people named %[1]s in different domains cannot both have an account here; to change %[1]s's password, run `pushca users add %[1]s`", norm)
		}
		return hash, nil
	})
}

// Remove deletes a user named bare: for the reason Add gives, a
// domain-qualified name may be another person's than the account it
// lands on.
func (u *Users) Remove(name string) error {
	norm, err := state.NormalizeUser(name)
	if err != nil {
		return err
	}
	if _, qualified := state.SplitLogin(name); qualified {
		return fmt.Errorf("remove %[1]s: name the user without a domain, as the users file does (a name with one may mean someone else than %[1]s): `pushca users remove %[1]s`", norm)
	}
	return u.edit(norm, func(current []byte) ([]byte, error) {
		if current == nil {
			return nil, fmt.Errorf("no user %s", norm)
		}
		return nil, nil
	})
}

// edit changes name in the source; this process sees it at its next look.
func (u *Users) edit(name string, fn func([]byte) ([]byte, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), sourceTimeout)
	defer cancel()
	if err := u.src.Edit(ctx, name, fn); err != nil {
		return err
	}
	u.lookNow()
	return nil
}
