package push

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/state"
)

// usersFile writes name:hash lines, each user's hash made at its cost.
func usersFile(t *testing.T, path string, costs map[string]int, extra ...string) {
	t.Helper()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(costs)) {
		h, err := bcrypt.GenerateFromPassword([]byte(name+" secret"), costs[name])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", name, h)
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	writeFile(t, path, []byte(b.String()))
}

// TestUnknownUserTimingMatchesKnownUser: a users file as `htpasswd -B`
// writes it (cost 5) with an older entry at cost 4, served at the default
// configured cost. A wrong password for an unknown user must take about as
// long as for the known user at the file's highest cost: the median over
// many tries within a factor of 2 (it was 32: the dummy was made at the
// configured cost, 10). The entries at another cost are warned about.
func TestUnknownUserTimingMatchesKnownUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	usersFile(t, path, map[string]int{"alice": 5, "bob": 4})
	var logs testtool.Buffer
	u, err := NewUsers(state.FileUsers(path), 0, slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil)))
	if err != nil {
		t.Fatal(err)
	}
	timed := func(user string) time.Duration {
		start := time.Now()
		if u.Verify(user, "wrong") {
			t.Fatalf("%s logged in with a wrong password", user)
		}
		return time.Since(start)
	}
	const tries = 41
	var known, unknown []time.Duration
	for i := range tries {
		// Alternate the order, so a slow spell of the machine falls on both.
		if i%2 == 0 {
			known, unknown = append(known, timed("alice")), append(unknown, timed(fmt.Sprintf("nobody%d", i)))
		} else {
			unknown, known = append(unknown, timed(fmt.Sprintf("nobody%d", i))), append(known, timed("alice"))
		}
	}
	slices.Sort(known)
	slices.Sort(unknown)
	ratio := float64(unknown[tries/2]) / float64(known[tries/2])
	if ratio > 2 || ratio < 0.5 {
		t.Errorf("median unknown-user check %v, known-user %v: ratio %.2f, want within 2×", unknown[tries/2], known[tries/2], ratio)
	}
	log := logs.String()
	for _, want := range []string{"level=WARN", "alice (cost 5)", "bob (cost 4)", "configured_cost=10"} {
		if !strings.Contains(log, want) {
			t.Errorf("the cost warning lacks %q:\n%s", want, log)
		}
	}
}

// TestUsersFileEditThatBreaksParsingDeniesRemovedUser: an edit removes
// alice and adds a line in a format pushca does not read ($apr1$). The
// reload fails at error level; alice is denied (she used to log in with
// the last good list); bob, unchanged, still logs in; carol's new line
// counts for nothing. An unreadable file denies everyone; a good file
// again lets everyone in it in.
func TestUsersFileEditThatBreaksParsingDeniesRemovedUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	usersFile(t, path, map[string]int{"alice": 4, "bob": 4})
	var logs testtool.Buffer
	u, err := NewUsers(state.FileUsers(path), bcrypt.MinCost, slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !u.Verify("alice", "alice secret") || !u.Verify("bob", "bob secret") {
		t.Fatal("the good file does not log its users in")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !strings.HasPrefix(l, "alice:") {
			kept = append(kept, l)
		}
	}
	broken := strings.Join(append(kept, "carol:$apr1$salt$0123456789abcdefghijkl"), "\n") + "\n"
	writeFile(t, path, []byte(broken))
	if err := u.Reload(); err == nil {
		t.Fatal("the broken file reloaded without an error")
	}
	if u.Verify("alice", "alice secret") {
		t.Error("alice, removed in the broken edit, still logs in")
	}
	if !u.Verify("bob", "bob secret") {
		t.Error("bob, unchanged in the broken edit, is refused")
	}
	if u.Verify("carol", "carol") {
		t.Error("carol's unreadable line logs in")
	}
	log := logs.String()
	if !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "users changed but cannot all be read") || !strings.Contains(log, "users_kept=1") {
		t.Errorf("the failed reload was not logged at error level:\n%s", log)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil { // unreadable as a file, even for root
		t.Fatal(err)
	}
	if err := u.Reload(); err == nil || u.Verify("bob", "bob secret") {
		t.Errorf("an unreadable users file: reload error %v, bob still logs in", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	usersFile(t, path, map[string]int{"alice": 4, "bob": 4})
	if err := u.Reload(); err != nil || !u.Verify("alice", "alice secret") || !u.Verify("bob", "bob secret") {
		t.Errorf("a good file again: %v", err)
	}
}

// heldSource is a users file whose changes are looked at only when the
// test lets them: Changed waits for release once hold is set.
type heldSource struct {
	state.UserSource
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (s *heldSource) Changed(ctx context.Context) (bool, error) {
	if s.hold.Load() {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.UserSource.Changed(ctx)
}

// TestNewUserWaitsForTheLookUnderWay: a user added while another login's
// look at the source is under way logs in once that look has read it,
// rather than being refused with the list from before (a load run's
// devices all logging in right after it created their user were refused
// that way now and then, and every refusal counts towards a lock-out).
func TestNewUserWaitsForTheLookUnderWay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	usersFile(t, path, map[string]int{"alice": 4})
	src := &heldSource{UserSource: state.FileUsers(path), entered: make(chan struct{}), release: make(chan struct{})}
	u, err := NewUsers(src, 4, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	u.interval = 0 // every login looks, unless a look is under way
	waiting := make(chan struct{}, 1)
	u.waitingForLook = func() { waiting <- struct{}{} }
	usersFile(t, path, map[string]int{"alice": 4, "bob": 4})
	src.hold.Store(true)

	alice := make(chan bool, 1)
	go func() { alice <- u.Verify("alice", "alice secret") }()
	<-src.entered // alice's look is under way and held
	src.hold.Store(false)
	bob := make(chan bool, 1)
	go func() { bob <- u.Verify("bob", "bob secret") }()
	select {
	case <-waiting:
	case ok := <-bob:
		t.Fatalf("bob was answered %v with the list from before the look under way", ok)
	}
	close(src.release)
	if !<-bob || !<-alice {
		t.Fatal("bob, added before the look, or alice was refused")
	}
}

// countingSource counts the looks at a users file.
type countingSource struct {
	state.UserSource
	looks atomic.Int64
}

func (s *countingSource) Changed(ctx context.Context) (bool, error) {
	s.looks.Add(1)
	return s.UserSource.Changed(ctx)
}

// TestHasKnownUserDoesNotLook: the admin API's check before a delivery
// answers a known user from the last look, however long ago; a user not
// known yet is looked for, so one just added is found.
func TestHasKnownUserDoesNotLook(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	usersFile(t, path, map[string]int{"alice": 4})
	src := &countingSource{UserSource: state.FileUsers(path)}
	u, err := NewUsers(src, 4, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	u.interval = 0 // any call that may look, looks
	before := src.looks.Load()
	if !u.Has("alice") || src.looks.Load() != before {
		t.Fatalf("Has(alice) looked %d time(s) at the source, want 0", src.looks.Load()-before)
	}
	usersFile(t, path, map[string]int{"alice": 4, "bob": 4})
	if !u.Has("bob") {
		t.Fatal("bob, added to the file, was not found")
	}
	if src.looks.Load() == before {
		t.Fatal("Has(bob) found bob without looking; the test proves nothing")
	}
}
