package ops

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/push/state"
)

// testDashboard is a dashboard of no devices, hub or certificates: enough
// for its sessions.
func testDashboard(t testing.TB) *Dashboard {
	t.Helper()
	tok := &Token{}
	tok.cur.Store(&tokenValue{plain: strings.Repeat("t", 64)})
	d, err := NewDashboard(tok, nil, state.HeartbeatAlert{}, nil, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSessionLimits: a cookie this dashboard signed opens it while its
// session is current, and not once it expired, sat idle longer than
// sessionIdle, or names a generation other than the current one (logout
// and SIGHUP move it on).
func TestSessionLimits(t *testing.T) {
	d := testDashboard(t)
	opens := func(value string) bool {
		r := httptest.NewRequest(http.MethodGet, DashboardPath, nil)
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: value})
		_, ok := d.session(r)
		return ok
	}
	now := time.Now().Unix()
	past, future := now-60, now+3600
	if !opens(d.cookie(0, future, now)) {
		t.Fatal("a current session does not open the dashboard")
	}
	for name, c := range map[string]string{
		"expired": d.cookie(0, past, past),
		"idle":    d.cookie(0, future, now-int64(sessionIdle/time.Second)-60),
		"old":     d.cookie(1, future, now),
	} {
		if opens(c) {
			t.Errorf("%s cookie accepted", name)
		}
	}
	current := d.cookie(0, future, now)
	d.now = func() time.Time { return time.Now().Add(sessionIdle + time.Minute) }
	if opens(current) {
		t.Error("a session left idle still opens the dashboard")
	}
	d.now = time.Now
	d.EndSessions()
	if opens(current) {
		t.Error("a session from before EndSessions still opens the dashboard")
	}
}

// FuzzSessionCookie: whatever a client sends as the cookie, only a value
// this server signed for the current generation, neither expired nor
// idle, logs in.
func FuzzSessionCookie(f *testing.F) {
	d := testDashboard(f)
	now := time.Now().Unix()
	f.Add(d.cookie(0, now+3600, now))
	f.Add(d.cookie(1, now+3600, now))
	f.Add(d.cookie(0, 1, 1))
	f.Add("x.y")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodGet, DashboardPath, nil)
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: v})
		if _, ok := d.session(r); !ok {
			return
		}
		got := r.Header.Get("Cookie")[len(SessionCookie)+1:]
		parts := strings.Split(got, ".")
		if len(parts) != 4 {
			t.Fatalf("cookie %q logged in", v)
		}
		gen, _ := strconv.ParseUint(parts[0], 10, 64)
		exp, _ := strconv.ParseInt(parts[1], 10, 64)
		active, _ := strconv.ParseInt(parts[2], 10, 64)
		now := time.Now().Unix()
		if gen != 0 || exp < now || now-active > int64(sessionIdle/time.Second) || got != d.cookie(gen, exp, active) {
			t.Fatalf("cookie %q logged in", v)
		}
	})
}
