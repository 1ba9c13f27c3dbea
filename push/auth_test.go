package push

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/internal/backoff"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

func TestUsersFile(t *testing.T) {
	dir := t.TempDir()
	u := testUsers(t, dir)
	if err := u.Add(`CORP\Bob`, "pw2"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "users")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode: %v %v", fi.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "secret") || !strings.Contains(string(data), "\nbob:$2a$") {
		t.Fatalf("users file:\n%s", data)
	}
	if names, _ := u.List(); strings.Join(names, ",") != "alice,bob" {
		t.Fatalf("List = %v", names)
	}
	// A second handle (another `pushca users` run) sees the file as it is.
	u2, err := OpenUsers(path, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := u2.Remove("bob"); err != nil {
		t.Fatal(err)
	}
	if err := u2.Remove("bob"); err == nil {
		t.Fatal("removing a missing user succeeded")
	}
	u.lookNow()
	if names, _ := u.List(); strings.Join(names, ",") != "alice" {
		t.Fatalf("the first handle did not notice the removal: List = %v", names)
	}
	for _, tc := range []struct {
		user, pw string
		want     bool
	}{
		{"alice", "secret", true},
		{`CORP\alice`, "secret", true},
		{"ALICE@corp.example", "secret", true},
		{"alice", "Secret", false},
		{"alice", "", false},
		{"bob", "pw2", false},
		{"nobody", "secret", false},
	} {
		if got := u.Verify(tc.user, tc.pw); got != tc.want {
			t.Errorf("Verify(%q, %q) = %v", tc.user, tc.pw, got)
		}
	}
}

// TestReloadRereadsUsers is SIGHUP's half for users: the file is read at
// once, not when the watch next looks.
func TestReloadRereadsUsers(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	ts.users.interval = time.Hour // it looked when the server started
	other, err := OpenUsers(UsersPath(ts.dir), bcrypt.MinCost)
	if err == nil {
		err = other.Add("carol", "pw3")
	}
	if err != nil {
		t.Fatal(err)
	}
	if ts.users.Has("carol") {
		t.Fatal("the watch looked within its interval; the test proves nothing")
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if !ts.users.Verify("carol", "pw3") {
		t.Fatal("Reload did not re-read the users file")
	}
}

func TestAuthBackoff(t *testing.T) {
	u := testUsers(t, t.TempDir())
	a := NewAuth(u, "test", testtool.Log(t))
	now := time.Unix(1e9, 0)
	a.fails = backoff.New(func() time.Time { return now })
	try := func(user, pw string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, ActiveSyncPath, nil)
		r.RemoteAddr = "192.0.2.1:4000"
		r.SetBasicAuth(user, pw)
		w := httptest.NewRecorder()
		a.Check(w, r)
		return w
	}
	for i := range backoff.FreeFailures {
		w := try("alice", "wrong")
		if w.Code != http.StatusUnauthorized || w.Header()["WWW-Authenticate"][0] != `Basic realm="test"` {
			t.Fatalf("failure %d: %d %v", i+1, w.Code, w.Header())
		}
	}
	// The last free failure started the wait; even the right password waits.
	if w := try("alice", "secret"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("while blocked: %d %v", w.Code, w.Header())
	}
	now = now.Add(time.Second)
	if w := try(`CORP\alice`, "secret"); w.Code != http.StatusOK {
		t.Fatalf("after the wait: %d", w.Code)
	}
	if n, _ := a.fails.Failed("alice\x00192.0.2.1", false); n != 1 {
		t.Fatal("a success did not clear the address")
	}
}

// slowCompare makes each bcrypt comparison of u last long enough for
// concurrent logins to overlap, and counts the comparisons and the most
// under way at once.
func slowCompare(u *Users) (calls, peak *atomic.Int64) {
	calls, peak = new(atomic.Int64), new(atomic.Int64)
	var running atomic.Int64
	u.compare = func(hash, pw []byte) error {
		calls.Add(1)
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		running.Add(-1)
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	return calls, peak
}

// login runs one Basic-auth login from addr through a and returns the
// status.
func login(a *Auth, addr, user, pw string) int {
	r := httptest.NewRequest(http.MethodPost, ActiveSyncPath, nil)
	r.RemoteAddr = addr
	r.SetBasicAuth(user, pw)
	w := httptest.NewRecorder()
	a.Check(w, r)
	return w.Code
}

// burst fires n logins at once, login i from addr(i) as user(i) with
// pw(i), and counts the answers by status.
func burst(a *Auth, n int, addr, user, pw func(int) string) map[int]int {
	codes := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			codes[i] = login(a, addr(i), user(i), pw(i))
		})
	}
	close(start)
	wg.Wait()
	out := map[int]int{}
	for _, c := range codes {
		out[c]++
	}
	return out
}

// TestConcurrentBadLoginsReachBcryptAtMostN: 30 password guesses for one
// user sent at once from one address. Each attempt is counted before its
// comparison starts, so no more than the free allowance reach bcrypt,
// and the rest are told to wait (429).
func TestConcurrentBadLoginsReachBcryptAtMostN(t *testing.T) {
	u := testUsers(t, t.TempDir())
	calls, _ := slowCompare(u)
	a := NewAuth(u, "test", testtool.Log(t))
	one := func(int) string { return "192.0.2.1:4000" }
	codes := burst(a, 30, one, func(int) string { return "alice" }, func(i int) string { return fmt.Sprintf("guess%d", i) })
	if n := calls.Load(); n > backoff.FreeFailures {
		t.Errorf("%d of 30 concurrent bad logins reached bcrypt, want at most %d", n, backoff.FreeFailures)
	}
	if codes[http.StatusUnauthorized] != int(calls.Load()) || codes[http.StatusTooManyRequests] != 30-int(calls.Load()) {
		t.Errorf("answers %v for %d comparisons: want 401 for each comparison, 429 for the rest", codes, calls.Load())
	}
}

// TestPasswordSprayIsBoundedPerClientAndInAll: guesses at many user names
// at once from one address run at most checksPerClient comparisons at a
// time, queue some and refuse the rest; 30 addresses at once run at most
// the gate's total at a time and are all answered.
func TestPasswordSprayIsBoundedPerClientAndInAll(t *testing.T) {
	u := testUsers(t, t.TempDir())
	calls, peak := slowCompare(u)
	a := NewAuth(u, "test", testtool.Log(t))
	users := func(i int) string { return fmt.Sprintf("user%d", i) }
	const guesses = 2 * (checksPerClient + checksQueuedPerClient)
	guess := func(int) string { return "guess" }
	codes := burst(a, guesses, func(int) string { return "192.0.2.1:4000" }, users, guess)
	if p := peak.Load(); p > checksPerClient {
		t.Errorf("%d comparisons at once for one client, want at most %d", p, checksPerClient)
	}
	if n := calls.Load(); n > checksPerClient+checksQueuedPerClient || codes[http.StatusTooManyRequests] != guesses-int(n) {
		t.Errorf("one client: %d comparisons, answers %v; want at most %d, 429 for the rest", n, codes, checksPerClient+checksQueuedPerClient)
	}

	calls.Store(0)
	peak.Store(0)
	addrs := func(i int) string { return fmt.Sprintf("198.51.100.%d:4000", i+1) }
	codes = burst(a, 30, addrs, users, guess)
	if p, most := peak.Load(), int64(cap(a.gate.total)); p > most {
		t.Errorf("%d comparisons at once in all, want at most %d", p, most)
	}
	if codes[http.StatusUnauthorized] != 30 || calls.Load() != 30 {
		t.Errorf("30 clients, one guess each: answers %v, %d comparisons; want 30 × 401", codes, calls.Load())
	}
}

// TestFleetBehindNATLogsInAtOnce: 40 devices of one user, behind one
// address, log in at once with the right password after a restart (no
// login cached). They share one bcrypt comparison, and none is refused:
// the address is not failing.
func TestFleetBehindNATLogsInAtOnce(t *testing.T) {
	u := testUsers(t, t.TempDir())
	calls, _ := slowCompare(u)
	a := NewAuth(u, "test", testtool.Log(t))
	nat := func(int) string { return "203.0.113.9:5000" }
	codes := burst(a, 40, nat, func(int) string { return `CORP\alice` }, func(int) string { return "secret" })
	if codes[http.StatusOK] != 40 || calls.Load() != 1 {
		t.Errorf("answers %v after %d comparisons, want 40 × 200 after 1", codes, calls.Load())
	}
}

// scrapeMetrics reads m as a scraper holding its token would, over TLS 1.3.
func scrapeMetrics(t *testing.T, m *ops.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	tok, err := ops.OpenToken(filepath.Join(t.TempDir(), "metrics.token"))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, ops.MetricsPath, nil)
	r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
	r.Header.Set("Authorization", "Bearer "+tok.String())
	w := httptest.NewRecorder()
	m.Handler(tok, tok).ServeHTTP(w, r)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("scrape: %d %v", w.Code, err)
	}
	return fams
}

// TestStalePhoneBehindNATLocksOutOnlyItsUser: a phone with an old password
// behind a carrier NAT fails until it must wait. Its user waits there;
// another user behind the same NAT, and the same user elsewhere, log in
// with their right passwords at once; the lockouts are counted.
func TestStalePhoneBehindNATLocksOutOnlyItsUser(t *testing.T) {
	u := testUsers(t, t.TempDir())
	if err := u.Add("bob", "bob secret"); err != nil {
		t.Fatal(err)
	}
	a := NewAuth(u, "test", testtool.Log(t))
	hub, err := ping.NewHub(nil, state.NewMemory(), ping.HeartbeatBounds{Min: 1, Max: 1}, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	a.metrics = ops.NewMetrics(hub, func() []ops.Cert { return nil })
	now := time.Unix(1e9, 0)
	a.fails = backoff.New(func() time.Time { return now })
	const nat = "203.0.113.9:5000"
	for range backoff.FreeFailures {
		login(a, nat, "alice", "old secret")
	}
	if code := login(a, nat, "alice", "secret"); code != http.StatusTooManyRequests {
		t.Errorf("alice behind the NAT after %d failures: %d, want 429", backoff.FreeFailures, code)
	}
	if code := login(a, nat, `CORP\bob`, "bob secret"); code != http.StatusOK {
		t.Errorf("bob behind the same NAT: %d, want 200", code)
	}
	if code := login(a, "192.0.2.44:5000", "alice", "secret"); code != http.StatusOK {
		t.Errorf("alice from another address: %d, want 200", code)
	}
	if v := value(t, scrapeMetrics(t, a.metrics), "pushca_lockouts_total", map[string]string{"realm": ops.RealmActiveSync}); v != 1 {
		t.Errorf("pushca_lockouts_total{realm=activesync} = %v, want 1", v)
	}
}

// TestIPv6ClientRotatingAddressesWithinA64 gets no fresh allowance per
// address: its /64 is one client. Another /64 is not held up.
func TestIPv6ClientRotatingAddressesWithinA64(t *testing.T) {
	u := testUsers(t, t.TempDir())
	a := NewAuth(u, "test", testtool.Log(t))
	for i := range backoff.FreeFailures {
		login(a, fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), "alice", "wrong")
	}
	if code := login(a, "[2001:db8:1:2:ffff::1]:443", "alice", "secret"); code != http.StatusTooManyRequests {
		t.Errorf("a new address in the same /64: %d, want 429", code)
	}
	if code := login(a, "[2001:db8:1:3::1]:443", "alice", "secret"); code != http.StatusOK {
		t.Errorf("another /64: %d, want 200", code)
	}
	for addr, want := range map[string]string{
		"[2001:db8:1:2:aaaa:bbbb:cccc:dddd%eth0]:1": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:1":                      "192.0.2.7",
		"192.0.2.7:1":                               "192.0.2.7",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = addr
		if got := backoff.ClientKey(r); got != want {
			t.Errorf("backoff.ClientKey(%s) = %s, want %s", addr, got, want)
		}
	}
}
