package ops

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pushca/pushca/provision"
	"github.com/pushca/pushca/push/internal/backoff"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// Dashboard paths, on the HTTPS listener beside (never under) the
// ActiveSync path, and the session cookie's name.
const (
	DashboardPath   = "/pushca/dashboard"
	dashboardPrefix = "/pushca/"
	LoginPath       = "/pushca/login"
	LogoutPath      = "/pushca/logout"
	SessionCookie   = "pushca_dashboard"
)

const (
	sessionLifetime = 8 * time.Hour
	// sessionIdle ends a session nobody used for this long.
	sessionIdle  = 30 * time.Minute
	maxLoginBody = 4 << 10
)

// Dashboard shows the device records to whoever holds the admin token.
// A login sets a cookie carrying the session generation, its expiry and
// last use, and an HMAC of them under a key of this process. The
// generation lives in the server: logging out and SIGHUP (which re-reads
// the token) bump it, which ends every session, a copied cookie's too,
// and so does a restart, with a new key. Each page view renews the last
// use, so an idle session ends after sessionIdle.
type Dashboard struct {
	token   *Token
	key     []byte
	gen     atomic.Uint64
	devices state.Devices
	// alert marks the devices whose heartbeats are low.
	alert   state.HeartbeatAlert
	hub     *ping.Hub
	certs   func() []Cert
	fails   *backoff.Backoff
	metrics *Metrics
	page    *provision.HTMLPages
	log     *slog.Logger
	now     func() time.Time
}

// NewDashboard shows devices, the Pings hub holds and the certificates
// certs lists to holders of tok, marking the devices alert says are low.
func NewDashboard(tok *Token, devices state.Devices, alert state.HeartbeatAlert, hub *ping.Hub, certs func() []Cert, m *Metrics, log *slog.Logger) (*Dashboard, error) {
	page, err := provision.ParseHTML("dashboard.html.tpl")
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	return &Dashboard{
		token: tok, key: key, devices: devices, alert: alert, hub: hub, certs: certs,
		fails: backoff.New(time.Now), metrics: m, page: page, log: log, now: time.Now,
	}, nil
}

// Wrap serves the dashboard paths and everything else from next. Every
// POST of the dashboard must come from its own pages: a cross-origin form
// (Origin or Sec-Fetch-Site say so) is refused.
func (d *Dashboard) Wrap(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DashboardPath, d.show)
	mux.HandleFunc("GET "+LoginPath, func(w http.ResponseWriter, r *http.Request) { d.render(w, http.StatusOK, dashboardView{Login: true}) })
	mux.HandleFunc("POST "+LoginPath, d.login)
	mux.HandleFunc("POST "+LogoutPath, d.logout)
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.log.Warn("dashboard: cross-origin POST refused", "client", backoff.ClientHost(r), "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		http.Error(w, "cross-origin request refused: post from the dashboard's own pages", http.StatusForbidden)
	}))
	guarded := modernTLSOnly(csrf.Handler(mux))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, dashboardPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		guarded.ServeHTTP(w, r)
	})
}

// modernTLSOnly refuses connections below TLS 1.2 with 403: TLS 1.0 and
// its RSA key-exchange, 3DES and RC4 suites are on the listener for
// Windows Mobile's ActiveSync only, and must not carry the admin token, a
// session cookie or the metrics.
func modernTLSOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.TLS.Version < tls.VersionTLS12 {
			v := "no TLS"
			if r.TLS != nil {
				v = tls.VersionName(r.TLS.Version)
			}
			http.Error(w, "this page needs TLS 1.2 or later, and this connection uses "+v+" (offered for Windows Mobile's ActiveSync only): use a current browser or client", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// EndSessions ends every dashboard session (logout, SIGHUP).
func (d *Dashboard) EndSessions() { d.gen.Add(1) }

func (d *Dashboard) sign(gen uint64, expiry, active int64) string {
	m := hmac.New(sha256.New, d.key)
	fmt.Fprintf(m, "%d.%d.%d", gen, expiry, active)
	return hex.EncodeToString(m.Sum(nil))
}

// cookie is the session value for gen, expiring at expiry, last used at
// active (Unix seconds).
func (d *Dashboard) cookie(gen uint64, expiry, active int64) string {
	return fmt.Sprintf("%d.%d.%d.%s", gen, expiry, active, d.sign(gen, expiry, active))
}

// session returns the expiry of the request's session, if it has a
// current one.
func (d *Dashboard) session(r *http.Request) (int64, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 {
		return 0, false
	}
	gen, err1 := strconv.ParseUint(parts[0], 10, 64)
	expiry, err2 := strconv.ParseInt(parts[1], 10, 64)
	active, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, false
	}
	if !hmac.Equal([]byte(parts[3]), []byte(d.sign(gen, expiry, active))) {
		return 0, false
	}
	now := d.now().Unix()
	if gen != d.gen.Load() || now > expiry || now-active > int64(sessionIdle/time.Second) {
		return 0, false
	}
	return expiry, true
}

// setSession sets the cookie of a session expiring at expiry, used now.
func (d *Dashboard) setSession(w http.ResponseWriter, expiry int64) {
	now := d.now().Unix()
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: d.cookie(d.gen.Load(), expiry, now),
		Path: dashboardPrefix, MaxAge: int(expiry - now),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	host := backoff.ClientKey(r)
	if wait, ok := d.fails.Begin(host); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		d.render(w, http.StatusTooManyRequests, dashboardView{Login: true, Error: "Too many wrong tokens from this address; wait and retry."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil || !d.token.matches(r.PostForm.Get("token")) {
		n, locked := d.fails.Failed(host, true)
		d.metrics.AuthFailed(realmDashboard)
		if locked {
			d.metrics.LockedOut(realmDashboard)
		}
		d.log.Info("dashboard login failed", "client", host, "failures", n)
		d.render(w, http.StatusUnauthorized, dashboardView{Login: true, Error: "Wrong admin token."})
		return
	}
	d.fails.Succeeded(host)
	d.setSession(w, d.now().Add(sessionLifetime).Unix())
	d.log.Info("dashboard login", "client", host)
	http.Redirect(w, r, DashboardPath, http.StatusSeeOther)
}

// logout ends every session, not only the caller's: the sessions share
// one generation, and a copy of the cookie must not outlive the logout.
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.session(r); ok {
		d.EndSessions()
		d.log.Info("dashboard logout: every session ended", "client", backoff.ClientHost(r))
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Path: dashboardPrefix, MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, LoginPath, http.StatusSeeOther)
}

func (d *Dashboard) show(w http.ResponseWriter, r *http.Request) {
	expiry, ok := d.session(r)
	if !ok {
		http.Redirect(w, r, LoginPath, http.StatusSeeOther)
		return
	}
	d.setSession(w, expiry)
	now := time.Now().UTC()
	v := dashboardView{Now: now.Format(time.DateTime), Held: d.hub.Held(), Threshold: d.alert.Threshold}
	current := map[string]bool{}
	for _, ch := range d.certs() {
		leaf := ch.Leaf
		serial := leaf.SerialNumber.String()
		current[serial] = true
		v.Certs = append(v.Certs, certView{
			Serial: serial, Family: ch.Family, Subject: leaf.Subject.CommonName, Issuer: leaf.Issuer.CommonName,
			NotAfter: leaf.NotAfter.UTC().Format(time.DateTime), DaysLeft: daysLeft(leaf.NotAfter, now),
		})
	}
	devs, err := d.devices.List(r.Context())
	if err != nil {
		d.log.Error("dashboard: list the device records", "err", err)
		http.Error(w, "server error: the device records cannot be read", http.StatusInternalServerError)
		return
	}
	for _, dev := range devs {
		row := deviceView{
			User: dev.User, ID: dev.ID, Type: dev.Type, Protocol: dev.Protocol,
			LastSeen: dev.LastSeen.UTC().Format(time.DateTime), Heartbeat: dev.Heartbeat,
			Pings: len(dev.Pings), Average: dev.AverageHeartbeat(), Cert: dev.Cert, Family: dev.Family, CertCurrent: current[dev.Cert],
		}
		for _, p := range dev.Pings {
			if p.Outcome == ping.Cut {
				row.Cut++
			}
		}
		row.Low = d.alert.Low(dev)
		v.Devices = append(v.Devices, row)
	}
	d.render(w, http.StatusOK, v)
}

func (d *Dashboard) render(w http.ResponseWriter, code int, v dashboardView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := d.page.Render(w, v); err != nil {
		d.log.Error("render dashboard", "err", err)
	}
}

// daysLeft counts whole days until t, negative once it passed.
func daysLeft(t, now time.Time) int {
	return int(t.Sub(now).Hours() / 24)
}

type dashboardView struct {
	Login     bool
	Error     string
	Now       string
	Held      int
	Threshold int
	Certs     []certView
	Devices   []deviceView
}

type certView struct {
	Serial, Family, Subject, Issuer, NotAfter string
	DaysLeft                                  int
}

type deviceView struct {
	User, ID, Type, Protocol, LastSeen string
	Heartbeat, Pings, Average, Cut     int
	Cert, Family                       string
	CertCurrent, Low                   bool
}
