package push

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestNormalizeUser(t *testing.T) {
	for in, want := range map[string]string{
		`alice`: "alice", `CORP\Alice`: "alice", `alice@corp.example`: "alice", ` Alice `: "alice",
	} {
		if got, err := NormalizeUser(in); err != nil || got != want {
			t.Errorf("NormalizeUser(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", `CORP\`, "@corp", "a:b", "a b", "a\x00b"} {
		if got, err := NormalizeUser(bad); err == nil {
			t.Errorf("NormalizeUser(%q) = %q, want an error", bad, got)
		}
	}
}

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
	u.watch.forget()
	if u.Has("bob") {
		t.Fatal("the first handle did not notice the removal")
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
	ts := startServer(t, HeartbeatBounds{1, 3540})
	ts.users.watch.interval = time.Hour
	ts.users.Has("alice") // the watch has looked now
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
	a := NewAuth(u, "test", testLog(t))
	now := time.Unix(1e9, 0)
	a.fails.now = func() time.Time { return now }
	try := func(user, pw string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, ActiveSyncPath, nil)
		r.RemoteAddr = "192.0.2.1:4000"
		r.SetBasicAuth(user, pw)
		w := httptest.NewRecorder()
		a.Check(w, r)
		return w
	}
	for i := range freeFailures {
		w := try("alice", "wrong")
		if w.Code != http.StatusUnauthorized || w.Header()["WWW-Authenticate"][0] != `Basic realm="test"` {
			t.Fatalf("failure %d: %d %v", i+1, w.Code, w.Header())
		}
	}
	// The next failure starts the wait; then even the right password waits.
	try("alice", "wrong")
	if w := try("alice", "secret"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("while blocked: %d %v", w.Code, w.Header())
	}
	now = now.Add(time.Second)
	if w := try(`CORP\alice`, "secret"); w.Code != http.StatusOK {
		t.Fatalf("after the wait: %d", w.Code)
	}
	if len(a.fails.hosts) != 0 {
		t.Fatal("a success did not clear the address")
	}
}

func TestBackoffIsBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := newBackoff(func() time.Time { return now })
	for i := range maxTrackedHosts + 50 {
		now = now.Add(time.Millisecond)
		b.failed("10.0." + string(rune('a'+i%26)) + "." + time.Duration(i).String())
	}
	if len(b.hosts) > maxTrackedHosts {
		t.Fatalf("%d tracked hosts", len(b.hosts))
	}
	// Entries expire: an old failure count starts over.
	b.failed("x")
	b.hosts["x"].count = 100
	now = now.Add(failureMemory + maxBlock + time.Second)
	if n := b.failed("x"); n != 1 {
		t.Fatalf("count after expiry = %d", n)
	}
}
