package push

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pushca/pushca/provision"
)

// Dashboard paths, on the HTTPS listener beside (never under) the
// ActiveSync path.
const (
	DashboardPath   = "/pushca/dashboard"
	dashboardPrefix = "/pushca/"
	loginPath       = "/pushca/login"
	logoutPath      = "/pushca/logout"
	sessionCookie   = "pushca_dashboard"
	sessionLifetime = 8 * time.Hour
	maxLoginBody    = 4 << 10
)

// dashboard shows the device records to whoever holds the admin token.
// A login sets a cookie carrying its expiry and an HMAC of it keyed by the
// token, so no session is stored and a new token ends every session.
type dashboard struct {
	token   [sha256.Size]byte
	key     []byte
	devices *Devices
	hub     *Hub
	certs   *Certificates
	fails   *backoff
	metrics *metrics
	page    *provision.HTMLPages
	log     *slog.Logger
}

func newDashboard(token string, devices *Devices, hub *Hub, certs *Certificates, m *metrics, log *slog.Logger) (*dashboard, error) {
	page, err := provision.ParseHTML("dashboard.html.tpl")
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte("pushca dashboard session\x00" + token))
	return &dashboard{
		token: sha256.Sum256([]byte(token)), key: key[:], devices: devices, hub: hub, certs: certs,
		fails: newBackoff(time.Now), metrics: m, page: page, log: log,
	}, nil
}

// wrap serves the dashboard paths and everything else from next.
func (d *dashboard) wrap(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DashboardPath, d.show)
	mux.HandleFunc("GET "+loginPath, func(w http.ResponseWriter, r *http.Request) { d.render(w, http.StatusOK, dashboardView{Login: true}) })
	mux.HandleFunc("POST "+loginPath, d.login)
	mux.HandleFunc("POST "+logoutPath, d.logout)
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
		mux.ServeHTTP(w, r)
	})
}

func (d *dashboard) sign(expiry int64) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(strconv.FormatInt(expiry, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

func (d *dashboard) loggedIn(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	exp, mac, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	expiry, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Now().Unix() > expiry {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(d.sign(expiry)))
}

func (d *dashboard) login(w http.ResponseWriter, r *http.Request) {
	host := clientHost(r)
	if wait := d.fails.blocked(host); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		d.render(w, http.StatusTooManyRequests, dashboardView{Login: true, Error: "Too many wrong tokens from this address; wait and retry."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil || !tokenMatches(d.token, r.PostForm.Get("token")) {
		n := d.fails.failed(host)
		d.metrics.authFailed(realmDashboard)
		d.log.Info("dashboard login failed", "client", host, "failures", n)
		d.render(w, http.StatusUnauthorized, dashboardView{Login: true, Error: "Wrong admin token."})
		return
	}
	d.fails.succeeded(host)
	expiry := time.Now().Add(sessionLifetime).Unix()
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: strconv.FormatInt(expiry, 10) + "." + d.sign(expiry),
		Path: dashboardPrefix, MaxAge: int(sessionLifetime / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
	d.log.Info("dashboard login", "client", host)
	http.Redirect(w, r, DashboardPath, http.StatusSeeOther)
}

func (d *dashboard) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: dashboardPrefix, MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, loginPath, http.StatusSeeOther)
}

func (d *dashboard) show(w http.ResponseWriter, r *http.Request) {
	if !d.loggedIn(r) {
		http.Redirect(w, r, loginPath, http.StatusSeeOther)
		return
	}
	now := time.Now().UTC()
	v := dashboardView{Now: now.Format(time.DateTime), Held: d.hub.Held(), Threshold: lowHeartbeat}
	current := map[string]bool{}
	for _, ch := range d.certs.current() {
		leaf := ch.cert.Leaf
		serial := leaf.SerialNumber.String()
		current[serial] = true
		v.Certs = append(v.Certs, certView{
			Serial: serial, Family: ch.family.Name, Subject: leaf.Subject.CommonName, Issuer: leaf.Issuer.CommonName,
			NotAfter: leaf.NotAfter.UTC().Format(time.DateTime), DaysLeft: daysLeft(leaf.NotAfter, now),
		})
	}
	for _, dev := range d.devices.List() {
		row := deviceView{
			User: dev.User, ID: dev.ID, Type: dev.Type, Protocol: dev.Protocol,
			LastSeen: dev.LastSeen.UTC().Format(time.DateTime), Heartbeat: dev.Heartbeat,
			Pings: len(dev.Pings), Average: dev.AverageHeartbeat(), Cert: dev.Cert, Family: dev.Family, CertCurrent: current[dev.Cert],
		}
		for _, p := range dev.Pings {
			if p.Outcome == PingCut {
				row.Cut++
			}
		}
		row.Low = row.Pings > 0 && row.Average <= lowHeartbeat
		v.Devices = append(v.Devices, row)
	}
	d.render(w, http.StatusOK, v)
}

func (d *dashboard) render(w http.ResponseWriter, code int, v dashboardView) {
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
