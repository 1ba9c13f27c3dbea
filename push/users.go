package push

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/internal/atomicfile"
)

// maxPassword is bcrypt's input limit; longer passwords would be cut
// silently by other implementations, so they are refused.
const maxPassword = 72

// NormalizeUser turns the forms a device may send — DOMAIN\user, a UPN
// user@domain, both at once, or a bare name — into the bare lower-case name
// the users file keys on (see splitLogin). Windows account names are
// case-insensitive.
func NormalizeUser(s string) (string, error) {
	name, _ := splitLogin(s)
	name = strings.ToLower(name)
	if name == "" || len(name) > 64 {
		return "", fmt.Errorf("user name %q: must be 1 to 64 characters", s)
	}
	for _, r := range name {
		if r == ':' || r == '/' || r == '@' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return "", fmt.Errorf("user name %q: %q is not allowed", s, r)
		}
	}
	return name, nil
}

// splitLogin returns the account part of a login and whether the login
// named a domain. The account is what follows the last backslash and
// precedes the first @, so CORP\jdoe (Windows Mobile joins the Sync CSP's
// domain and user so), jdoe@corp.example and CORP\jdoe@corp.example (an
// iPhone given a domain and a UPN) are all jdoe. The domain is dropped, not
// matched: a NetBIOS domain (CORP) says nothing about a UPN suffix
// (corp.example), so no rule could tell two same-named people of two
// domains apart at every login. One account per name is what stays
// deterministic, and Users.Add refuses a domain-qualified name that would
// land on an existing account.
func splitLogin(s string) (name string, qualified bool) {
	name = strings.TrimSpace(s)
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name, qualified = name[i+1:], true
	}
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, qualified = name[:i], true
	}
	return name, qualified
}

// ParseUsers reads an htpasswd-style file of "name:bcrypt-hash" lines (the
// format of `htpasswd -B`), ignoring blank lines and # comments.
func ParseUsers(data []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want name:hash", n)
		}
		norm, err := NormalizeUser(name)
		if err != nil || norm != name {
			return nil, fmt.Errorf("line %d: user name %q is not in normal form", n, name)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("line %d: user %s: not a bcrypt hash: %w", n, name, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("line %d: user %s listed twice", n, name)
		}
		out[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func formatUsers(users map[string][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("# pushca users: name:bcrypt-hash (htpasswd -B compatible). Edit with `pushca users`.\n")
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%s:%s\n", n, users[n])
	}
	return b.Bytes()
}

// Users is the users file, re-read when it changes on disk so that
// `pushca users add` takes effect on a running server.
//
// A file that changed but cannot be read or parsed fails closed: until it
// is fixed, only the users whose line is still in it, unchanged since the
// last good read, can log in (an unreadable file denies everyone), and the
// error is logged. Keeping the last good list whole would let a user
// removed in the same edit in; denying everyone would lock out a fleet
// over one line in a format pushca does not read.
type Users struct {
	path  string
	cost  int
	watch *fileWatch
	log   *slog.Logger
	// compare is bcrypt's; a test counts the calls through it.
	compare func(hash, password []byte) error
	now     func() time.Time
	// macKey keys the verified cache: it holds a MAC of the password
	// under this process's random key, never the password or a plain hash.
	macKey []byte

	mu     sync.Mutex
	hashes map[string][]byte
	err    error
	// dummy is compared against when the user is unknown, so the answer
	// takes as long as for a known user with a wrong password: it is made
	// at the highest cost in the file (files from `htpasswd -B` use 5,
	// bcrypt.DefaultCost is 10).
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
// bcrypt. A password changed or a user removed in the file takes effect
// as soon as the file is re-read (within a second), whatever the TTL,
// since an entry only matches the hash it was checked against.
const verifiedTTL = 15 * time.Minute

type verifiedLogin struct {
	hash  []byte // the users-file hash the password matched
	mac   []byte
	until time.Time
}

// UsersFileCheck is how often, at most, a server looks at its users file
// for changes: a user added by another process can log in that long after.
const UsersFileCheck = time.Second

// OpenUsers reads the users file at path (a missing file is an empty list).
// cost is the bcrypt cost of new hashes; 0 means bcrypt.DefaultCost.
func OpenUsers(path string, cost int) (*Users, error) {
	return openUsers(path, cost, slog.New(slog.DiscardHandler))
}

// openUsers is OpenUsers logging reload errors and odd costs to log.
func openUsers(path string, cost int, log *slog.Logger) (*Users, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	macKey := make([]byte, 32)
	rand.Read(macKey)
	u := &Users{
		path: path, cost: cost, watch: newFileWatch(UsersFileCheck), log: log,
		compare: bcrypt.CompareHashAndPassword, now: time.Now, macKey: macKey,
		verified: map[string]verifiedLogin{}, checking: map[string]*pendingCheck{},
	}
	if err := u.refresh(); err != nil {
		return nil, err
	}
	return u, nil
}

// refresh re-reads the file when it changed, and returns the error of the
// last read.
func (u *Users) refresh() error {
	if !u.watch.changed(u.path) {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.err
	}
	return u.load()
}

// load reads the file now. On failure it keeps, of the current list, the
// users whose line the file still holds unchanged (see Users), and has the
// watch look again, as the failure may pass (too many open files).
func (u *Users) load() error {
	data, err := u.readFile()
	var hashes map[string][]byte
	if err == nil {
		if hashes, err = ParseUsers(data); err != nil {
			err = fmt.Errorf("users file %s: %w", u.path, err)
		}
	}
	u.mu.Lock()
	prevErr, first := u.err, u.hashes == nil
	if err != nil && !first {
		hashes = salvage(data, u.hashes)
	}
	if err == nil || !first {
		u.hashes = hashes
	}
	u.err = err
	u.mu.Unlock()
	if err != nil {
		u.watch.retry()
		if !first && (prevErr == nil || prevErr.Error() != err.Error()) {
			u.log.Error("users file changed but cannot be read; until it is fixed only users whose line is unchanged can log in",
				"err", err, "users_kept", len(hashes))
		}
		return err
	}
	if prevErr != nil && !first {
		u.log.Info("users file read again", "users", len(hashes))
	}
	return u.fitDummy(hashes)
}

// readFile returns the file's content, nothing for a missing file.
func (u *Users) readFile() ([]byte, error) {
	data, err := os.ReadFile(u.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	return data, nil
}

func (u *Users) read() (map[string][]byte, error) {
	data, err := u.readFile()
	if err != nil {
		return nil, err
	}
	hashes, err := ParseUsers(data)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", u.path, err)
	}
	return hashes, nil
}

// salvage returns the users of last whose line data holds once and
// unchanged.
func salvage(data []byte, last map[string][]byte) map[string][]byte {
	lines, seen := map[string]string{}, map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, hash, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			lines[name] = hash
			seen[name]++
		}
	}
	out := map[string][]byte{}
	for name, hash := range last {
		if seen[name] == 1 && lines[name] == string(hash) {
			out[name] = hash
		}
	}
	return out
}

// fitDummy makes the dummy hash at the highest cost in the file (the
// configured cost for an empty file) when it is not at that cost yet,
// and warns about hashes at another cost than the configured one: their
// users answer faster or slower than the others, which tells them apart.
func (u *Users) fitDummy(hashes map[string][]byte) error {
	top := 0
	var odd []string
	for name, h := range hashes {
		c, _ := bcrypt.Cost(h) // ParseUsers checked it
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
		u.log.Warn("users file: password hashes at another bcrypt cost than the configured one; login times tell these users apart, so set their passwords again with `pushca users add`",
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

// Reload re-reads the file now (SIGHUP), whatever the watch says.
func (u *Users) Reload() error {
	u.watch.forget()
	return u.refresh()
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
	norm, err := NormalizeUser(name)
	mac := u.mac(norm, password)
	for {
		u.mu.Lock()
		hash, ok := u.hashes[norm]
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

// Has says whether a user exists.
func (u *Users) Has(name string) bool {
	_ = u.refresh()
	norm, err := NormalizeUser(name)
	if err != nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.hashes[norm]
	return ok
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

// Add sets name's password, adding the user when new, and rewrites the file
// atomically (0600). A name with a domain (DOMAIN\user, user@domain) may
// add its user but never change an existing one's password: the domain is
// not stored, so jdoe@partner.example would silently take over
// jdoe@corp.example's account. The bare name changes a password.
func (u *Users) Add(name, password string) error {
	norm, err := NormalizeUser(name)
	if err != nil {
		return err
	}
	_, qualified := splitLogin(name)
	if password == "" || len(password) > maxPassword {
		return fmt.Errorf("password for %s: must be 1 to %d bytes", norm, maxPassword)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), u.cost)
	if err != nil {
		return fmt.Errorf("hash password for %s: %w", norm, err)
	}
	return u.edit(func(m map[string][]byte) error {
		if _, taken := m[norm]; taken && qualified {
			return fmt.Errorf("user %[1]s already exists, and a name with a domain would replace its password: logins keep no domain (DOMAIN\\%[1]s and %[1]s@any.domain are all %[1]s), so two people named %[1]s in different domains cannot both have an account here; to change %[1]s's password, run `pushca users add %[1]s`", norm)
		}
		m[norm] = hash
		return nil
	})
}

// Remove deletes a user named bare: for the reason Add gives, a
// domain-qualified name may be another person's than the account it
// lands on.
func (u *Users) Remove(name string) error {
	norm, err := NormalizeUser(name)
	if err != nil {
		return err
	}
	if _, qualified := splitLogin(name); qualified {
		return fmt.Errorf("remove %[1]s: name the user without a domain, as the users file does (a name with one may mean someone else than %[1]s): `pushca users remove %[1]s`", norm)
	}
	return u.edit(func(m map[string][]byte) error {
		if _, ok := m[norm]; !ok {
			return fmt.Errorf("no user %s", norm)
		}
		delete(m, norm)
		return nil
	})
}

// edit works on the file as it is on disk now, not on the cached copy, so
// two `pushca users` runs in a row both land.
func (u *Users) edit(fn func(map[string][]byte) error) error {
	hashes, err := u.read()
	if err != nil {
		return err
	}
	if err := fn(hashes); err != nil {
		return err
	}
	if err := atomicfile.MkdirAll(filepath.Dir(u.path)); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(u.path, formatUsers(hashes), atomicfile.FileMode); err != nil {
		return fmt.Errorf("save users: %w", err)
	}
	u.mu.Lock()
	u.hashes, u.err = hashes, nil
	u.mu.Unlock()
	u.watch.forget()
	return nil
}
