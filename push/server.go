package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/internal/renew"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push/enroll"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// Files of the endpoint inside the state directory, beside the CA's.
func stateDir(dir string) string { return filepath.Join(dir, "push") }

// UsersPath is the users file (htpasswd format, 0600), unless the users
// are kept in a database (Config.Users).
func UsersPath(dir string) string { return filepath.Join(stateDir(dir), "users") }

// TokenPath is the admin bearer token (0600): admin API, dashboard and
// metrics.
func TokenPath(dir string) string { return filepath.Join(stateDir(dir), "admin.token") }

// MetricsTokenPath is the read-only bearer token of /metrics (0600).
func MetricsTokenPath(dir string) string { return filepath.Join(stateDir(dir), "metrics.token") }

// LinksPath is the per-user enrollment links file (JSON, 0600): written by
// `pushca bundle --base-url`, read by `pushca serve` (package enroll).
func LinksPath(dir string) string { return filepath.Join(stateDir(dir), "enroll-links.json") }

// DevicesPath is the device database (bbolt), unless the device records
// are kept elsewhere (Config.Devices).
func DevicesPath(dir string) string { return filepath.Join(stateDir(dir), "devices.db") }

// HTTP limits. Requests are small WBXML documents; a Ping holds the response,
// not the request, so read timeouts stay short.
const (
	maxBody           = 1 << 20
	maxHeaderBytes    = 64 << 10
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	idleTimeout       = 2 * time.Minute
	// writeSlack is added to a Ping's heartbeat for its write deadline.
	writeSlack = time.Minute
	// shutdownGrace is how long held Pings get to write Status 1 on exit.
	shutdownGrace = 10 * time.Second
)

// Config says what to serve and where.
type Config struct {
	// Dir is the state directory.
	Dir string
	// Host names the server certificates, servers/<Host>/ in Dir: one per
	// chain family of the CA, each served to the clients of its generation.
	// Ignored when Pairs is set.
	Host  string
	Pairs []KeyPair
	// Profiles are device profiles to serve beyond those the chains'
	// families serve; with those they decide the TLS versions and suites.
	Profiles []profile.Profile
	// HTTPSAddr is required; HTTPAddr and AdminAddr are optional.
	HTTPSAddr, HTTPAddr, AdminAddr string
	Heartbeat                      ping.HeartbeatBounds
	// BcryptCost is the cost the users file's hashes should have: entries
	// at another cost are warned about. Zero means bcrypt.DefaultCost.
	BcryptCost int
	// DevicesPerUser caps one user's device records and held Pings, the
	// oldest going first; 0 means DefaultDevicesPerUser, below 0 no cap.
	// Devices given by the caller (below) apply the caller's rules to
	// their records.
	DevicesPerUser int
	// EnrollURL is the enrollment site's public address, shown on its
	// landing page and in its QR code; empty means one made from Host and
	// HTTPAddr's port (see enroll.PublicURL).
	EnrollURL string
	// HeartbeatAlert says when a device's heartbeats are low enough to
	// warn about; zero means state.DefaultHeartbeatAlert.
	HeartbeatAlert state.HeartbeatAlert
	// MailDomain is the domain of the users' e-mail addresses, NAME@MailDomain:
	// what Settings UserInformation answers and Autodiscover accepts. Empty
	// means Host's domain (see HostDomain), or Host itself when it has none.
	MailDomain string
	// URL is https://HOST[:PORT], where devices reach this server: the
	// MobileSync URL Autodiscover answers and its HTTP redirect points to.
	// Empty means Host on the bound HTTPS port. It never comes from a
	// request, whose Host header a client chooses.
	URL string
	// AutoRenew, when set, renews the Host's certificates as they age.
	AutoRenew *AutoRenew
	// Users, Store and Devices keep the users, the test mailbox with its
	// change feed, and the device records. Nil means this server's own:
	// the users file and the bbolt devices.db in Dir (which one process at
	// a time may open), and a mailbox in memory. Servers that share them
	// (package pgstate) are each given the same. Serve closes Devices; the
	// caller closes what it opened them from.
	Users   state.UserSource
	Store   state.Store
	Devices state.Devices
	Log     *slog.Logger
}

// Server is the running endpoint.
type Server struct {
	cfg     Config
	certs   *Certificates
	slots   []ca.Slot
	users   *Users
	devices state.Devices
	mail    state.Store
	hub     *ping.Hub
	renew   []*renew.Scheduler
	metrics *ops.Metrics
	// token is the admin token, metricsToken the read-only one of /metrics;
	// both are re-read by Reload.
	token, metricsToken *ops.Token
	dash                *ops.Dashboard
	log                 *slog.Logger

	https, http, admin *http.Server
	lns                map[*http.Server]net.Listener
}

// New opens the state the server needs: certificates, users, device
// records and admin token (created when missing).
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Heartbeat == (ping.HeartbeatBounds{}) {
		cfg.Heartbeat = ping.HeartbeatBounds{Min: ping.DefaultHeartbeatMin, Max: ping.DefaultHeartbeatMax}
	}
	if cfg.HeartbeatAlert == (state.HeartbeatAlert{}) {
		cfg.HeartbeatAlert = state.DefaultHeartbeatAlert()
	}
	if err := cfg.HeartbeatAlert.Validate(); err != nil {
		return nil, err
	}
	if cfg.MailDomain == "" {
		cfg.MailDomain = defaultMailDomain(cfg.Host)
	}
	if cfg.URL != "" {
		if err := checkServerURL(cfg.URL); err != nil {
			return nil, err
		}
	}
	if cfg.HTTPSAddr == "" {
		return nil, errors.New("an HTTPS address is required: ActiveSync is served over TLS only")
	}
	pairs := cfg.Pairs
	if len(pairs) == 0 && cfg.Host == "" {
		return nil, errors.New("name the server certificate: a host (servers/<host>/ in the state directory) or certificate and key files")
	}
	slots, err := ca.ReadSlots(cfg.Dir)
	switch {
	case err == nil:
	case len(pairs) > 0 && errors.Is(err, ca.ErrNotInitialized):
		// Files named by hand beside no CA: no CRL to publish.
	default:
		return nil, fmt.Errorf("find the chains to serve: %w", err)
	}
	if len(pairs) == 0 {
		pairs = hostPairs(cfg.Dir, cfg.Host, slots)
	}
	if err := atomicfile.MkdirAll(stateDir(cfg.Dir)); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, slots: slots, log: cfg.Log, lns: map[*http.Server]net.Listener{}}
	if s.certs, err = LoadCertificates(pairs, cfg.Profiles, cfg.Log); err != nil {
		return nil, err
	}
	if cfg.AutoRenew != nil {
		if s.renew, err = s.renewSchedulers(); err != nil {
			return nil, err
		}
	}
	users := cfg.Users
	if users == nil {
		users = state.FileUsers(UsersPath(cfg.Dir))
	}
	if s.users, err = NewUsers(users, cfg.BcryptCost, cfg.Log); err != nil {
		return nil, err
	}
	if names, err := s.users.List(); err == nil && len(names) == 0 {
		cfg.Log.Warn("no users yet: every login fails until you run `pushca users add NAME`")
	}
	if s.token, err = ops.OpenToken(TokenPath(cfg.Dir)); err != nil {
		return nil, err
	}
	if s.metricsToken, err = ops.OpenToken(MetricsTokenPath(cfg.Dir)); err != nil {
		return nil, err
	}
	s.devices, s.mail = cfg.Devices, cfg.Store
	// bolt is the server's own device database, which it configures.
	var bolt *state.BoltDevices
	if s.devices == nil {
		if bolt, err = state.OpenBoltDevices(DevicesPath(cfg.Dir), cfg.Log); err != nil {
			return nil, err
		}
		perUser := state.DefaultDevicesPerUser
		if cfg.DevicesPerUser != 0 {
			perUser = cfg.DevicesPerUser
		}
		bolt.SetRules(perUser, cfg.HeartbeatAlert)
		s.devices = bolt
	}
	if s.mail == nil {
		s.mail = state.NewMemory()
	}
	if s.hub, err = ping.NewHub(s.devices, s.mail, cfg.Heartbeat, cfg.Log); err != nil {
		s.devices.Close()
		return nil, err
	}
	if cfg.DevicesPerUser != 0 {
		s.hub.SetPerUser(cfg.DevicesPerUser)
	}
	s.metrics = ops.NewMetrics(s.hub, s.servedCerts)
	s.hub.SetCounters(s.metrics)
	if e, ok := s.devices.(state.EvictionCounter); ok {
		e.OnEvict(s.metrics.DeviceEvicted)
	}
	if s.dash, err = ops.NewDashboard(s.token, s.devices, cfg.HeartbeatAlert, s.hub, s.servedCerts, s.metrics, s.log); err != nil {
		s.devices.Close()
		return nil, err
	}
	return s, nil
}

// servedCerts lists the certificates served now, for the dashboard and the
// metrics.
func (s *Server) servedCerts() []ops.Cert {
	var out []ops.Cert
	for _, ch := range s.certs.current() {
		out = append(out, ops.Cert{Leaf: ch.cert.Leaf, Family: ch.family.Name})
	}
	return out
}

// hostPairs names host's chain in every family of the CA. A family whose
// files are missing is skipped until they appear (see LoadCertificates), so
// a leaf issued later in one of the CA's families is served from the next
// reload on.
func hostPairs(dir, host string, slots []ca.Slot) []KeyPair {
	l := ca.Layout{Dir: dir}
	out := make([]KeyPair, len(slots))
	for i, sl := range slots {
		out[i] = KeyPair{Cert: l.ServerChain(host, sl), Key: l.ServerKey(host, sl), Family: sl.Family}
	}
	return out
}

// Reload re-reads the certificate files, the users and the tokens now
// (SIGHUP), and ends every dashboard session. Certificates and tokens that
// fail to load keep their previous content; the users fail closed (see
// Users).
func (s *Server) Reload() error {
	err := errors.Join(s.certs.Reload(), s.users.Reload(), s.token.Reload(), s.metricsToken.Reload())
	s.dash.EndSessions()
	return err
}

func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// TLS handshake failures land here: the first thing to read when a
		// device does not trust the chain or shares no suite.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// No HTTP/2: ActiveSync is HTTP/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
}

// Listen binds every configured address, so that a port in use is reported
// before anything is served.
func (s *Server) Listen(ctx context.Context) error {
	var lc net.ListenConfig
	tlsConfig := TLSConfig(s.certs, s.certs.Profiles())
	tlsConfig.VerifyConnection = s.metrics.Handshake
	logServing(s.log, tlsConfig, s.certs.current())
	ln, err := lc.Listen(ctx, "tcp", s.cfg.HTTPSAddr)
	if err != nil {
		return fmt.Errorf("HTTPS listener: %w", err)
	}
	https := newReaccept(ln, tlsConfig, s.log)
	site := newSite(s.cfg, ln.Addr())
	if site.url == "" {
		s.log.Warn("Autodiscover cannot name this server: give --url (or --host)")
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+ops.MetricsPath, s.metrics.Handler(s.metricsToken, s.token))
	mux.Handle("/", s.dash.Wrap(newActiveSync(s.users, s.hub, s.devices, s.mail, s.cfg.Heartbeat, https, site, s.metrics, s.log)))
	s.https = s.newHTTPServer(mux)
	s.https.TLSConfig = tlsConfig
	s.https.ConnContext = withServedCert
	s.lns[s.https] = https
	if s.cfg.HTTPAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", s.cfg.HTTPAddr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("HTTP listener: %w", err)
		}
		var leaves []*x509.Certificate
		for _, ch := range s.certs.current() {
			leaves = append(leaves, ch.cert.Leaf)
		}
		page, err := enroll.PublicURL(s.cfg.EnrollURL, s.cfg.Host, leaves, ln.Addr())
		if err != nil {
			ln.Close()
			s.closeListeners()
			return err
		}
		s.log.Info("enrollment site", "url", page, "listen", ln.Addr().String())
		s.http = s.newHTTPServer(withAutodiscoverRedirect(site, s.log, refusePlainActiveSync(s.log, enroll.Handler(s.cfg.Dir, LinksPath(s.cfg.Dir), page, s.slots, s.log))))
		s.lns[s.http] = ln
	}
	if s.cfg.AdminAddr != "" {
		s.admin = s.newHTTPServer(ops.AdminHandler(s.token, s.hub, s.users, s.devices, s.metrics, s.log))
		ln, err := ops.ListenLoopback(ctx, s.cfg.AdminAddr)
		if err != nil {
			s.closeListeners()
			return err
		}
		s.lns[s.admin] = ln
	}
	return nil
}

func (s *Server) closeListeners() {
	for _, ln := range s.lns {
		ln.Close()
	}
}

func (s *Server) addr(srv *http.Server) string {
	if ln, ok := s.lns[srv]; ok && srv != nil {
		return ln.Addr().String()
	}
	return ""
}

// HTTPSAddr, HTTPAddr and AdminAddr are the bound addresses after Listen
// ("" when not configured).
func (s *Server) HTTPSAddr() string { return s.addr(s.https) }
func (s *Server) HTTPAddr() string  { return s.addr(s.http) }
func (s *Server) AdminAddr() string { return s.addr(s.admin) }

// Token is the admin bearer token.
func (s *Server) Token() string { return s.token.String() }

// MetricsToken is the read-only bearer token of /metrics.
func (s *Server) MetricsToken() string { return s.metricsToken.String() }

// Serve serves until ctx ends, then answers held Pings with Status 1, lets
// in-flight requests finish (bounded) and closes the device database.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, len(s.lns)+len(s.renew))
	var wg sync.WaitGroup
	for srv, ln := range s.lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	runCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	for _, r := range s.renew {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(runCtx); err != nil {
				errc <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopRenew()
	s.hub.Close()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	for srv := range s.lns {
		if e := srv.Shutdown(shutCtx); e != nil {
			srv.Close()
		}
	}
	wg.Wait()
	return errors.Join(err, s.devices.Close())
}
