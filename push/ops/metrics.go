package ops

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pushca/pushca/push/ping"
)

// MetricsPath is the Prometheus endpoint. It is on the HTTPS listener
// behind a bearer token (as Prometheus' authorization setting sends it): a
// scraper normally runs on another machine, which the loopback-only admin
// API cannot serve, and the token must not cross the network in the clear.
// Scrapers get a read-only token of their own (push/metrics.token), so a
// leaked scrape configuration opens no dashboard; the admin token is taken
// too.
const MetricsPath = "/metrics"

// Realms of pushca_auth_failures_total: RealmActiveSync is the endpoint's
// Basic auth (package push), the others are this package's.
const (
	RealmActiveSync = "activesync"
	realmAdmin      = "admin"
	realmDashboard  = "dashboard"
	realmMetrics    = "metrics"
)

// Kinds of pushca_evictions_total.
const (
	evictedPing   = "ping"
	evictedDevice = "device"
)

// Metrics are one server's counters, in a registry of its own so that two
// servers in one process (tests) never share or clash. A nil *Metrics
// counts nothing, for handlers built without a server.
type Metrics struct {
	reg          *prometheus.Registry
	pings        *prometheus.CounterVec
	pushes       prometheus.Counter
	handshakes   *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	lockouts     *prometheus.CounterVec
	busy         prometheus.Counter
	evictions    *prometheus.CounterVec
}

// Cert is a served server certificate: its leaf, and the name of the
// chain family it belongs to ("" for none).
type Cert struct {
	Leaf   *x509.Certificate
	Family string
}

// NewMetrics counts for a server whose held Pings hub keeps and whose
// served certificates certs lists; both are read at each scrape.
func NewMetrics(hub *ping.Hub, certs func() []Cert) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		pings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushca_pings_total", Help: "Pings that were held and ended, by how they ended.",
		}, []string{"ending"}),
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pushca_pushes_total", Help: "Test messages delivered (each wakes the user's held Pings).",
		}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushca_tls_handshakes_total", Help: "TLS handshakes negotiated on the ActiveSync listener, by protocol version.",
		}, []string{"version"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushca_auth_failures_total", Help: "Rejected credentials or tokens, by realm.",
		}, []string{"realm"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushca_lockouts_total", Help: "Failed logins that made the client wait before its next try (ActiveSync: per user and address), by realm.",
		}, []string{"realm"}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pushca_logins_busy_total", Help: "Logins refused unchecked (429) because too many password checks were already under way for the client or in all.",
		}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushca_evictions_total", Help: "Held Pings and device records dropped, oldest first, to keep a user within the per-user limits, by kind.",
		}, []string{"kind"}),
	}
	// Every ending and realm from the start, so a rate() sees the first one.
	for _, e := range []string{ping.Changes, ping.Expired, ping.Superseded, ping.Shutdown, ping.Cut, ping.Evicted} {
		m.pings.WithLabelValues(e)
	}
	for _, r := range []string{RealmActiveSync, realmAdmin, realmDashboard, realmMetrics} {
		m.authFailures.WithLabelValues(r)
	}
	for _, r := range []string{RealmActiveSync, realmDashboard} {
		m.lockouts.WithLabelValues(r)
	}
	for _, k := range []string{evictedPing, evictedDevice} {
		m.evictions.WithLabelValues(k)
	}
	m.reg.MustRegister(m.pings, m.pushes, m.handshakes, m.authFailures, m.lockouts, m.busy, m.evictions,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pushca_pings_held", Help: "Pings held open now.",
		}, func() float64 { return float64(hub.Held()) }),
		certCollector(certs),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// PingEnded, PingEvicted and Pushed are the hub's ping.Counters.
func (m *Metrics) PingEnded(outcome string) {
	if m != nil {
		m.pings.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) PingEvicted() { m.evicted(evictedPing) }

// DeviceEvicted counts a device record dropped to keep its user within the
// per-user limit.
func (m *Metrics) DeviceEvicted() { m.evicted(evictedDevice) }

func (m *Metrics) Pushed() {
	if m != nil {
		m.pushes.Inc()
	}
}

// AuthFailed counts rejected credentials or a rejected token of realm.
func (m *Metrics) AuthFailed(realm string) {
	if m != nil {
		m.authFailures.WithLabelValues(realm).Inc()
	}
}

// LockedOut counts a failed login that made its client wait, of realm.
func (m *Metrics) LockedOut(realm string) {
	if m != nil {
		m.lockouts.WithLabelValues(realm).Inc()
	}
}

// RefusedBusy counts a login refused unchecked while too many password
// checks were under way.
func (m *Metrics) RefusedBusy() {
	if m != nil {
		m.busy.Inc()
	}
}

func (m *Metrics) evicted(kind string) {
	if m != nil {
		m.evictions.WithLabelValues(kind).Inc()
	}
}

// Handshake is tls.Config.VerifyConnection, which the server side calls
// on every handshake, full or resumed.
func (m *Metrics) Handshake(cs tls.ConnectionState) error {
	if m != nil {
		m.handshakes.WithLabelValues(tls.VersionName(cs.Version)).Inc()
	}
	return nil
}

// Handler serves the registry at MetricsPath to holders of the metrics or
// the admin token, on TLS 1.2 or later only.
func (m *Metrics) Handler(metricsToken, adminToken *Token) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return modernTLSOnly(requireToken(realmMetrics, m, h, metricsToken, adminToken))
}

var certDaysDesc = prometheus.NewDesc("pushca_certificate_days_left",
	"Days until the served server certificate expires (negative once expired).", []string{"serial", "subject"}, nil)

// certCollector reads the certificates at scrape time, so a renewal shows
// at the next scrape.
type certCollector func() []Cert

func (c certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- certDaysDesc }

func (c certCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, served := range c() {
		leaf := served.Leaf
		ch <- prometheus.MustNewConstMetric(certDaysDesc, prometheus.GaugeValue,
			leaf.NotAfter.Sub(now).Hours()/24, leaf.SerialNumber.String(), leaf.Subject.CommonName)
	}
}
