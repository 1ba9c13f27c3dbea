package push

import (
	"crypto/tls"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsPath is the Prometheus endpoint. It is on the HTTPS listener
// behind a bearer token (as Prometheus' authorization setting sends it): a
// scraper normally runs on another machine, which the loopback-only admin
// API cannot serve, and the token must not cross the network in the clear.
// Scrapers get a read-only token of their own (push/metrics.token), so a
// leaked scrape configuration opens no dashboard; the admin token is taken
// too.
const MetricsPath = "/metrics"

// Realms of pushca_auth_failures_total.
const (
	realmActiveSync = "activesync"
	realmAdmin      = "admin"
	realmDashboard  = "dashboard"
	realmMetrics    = "metrics"
)

// Kinds of pushca_evictions_total.
const (
	evictedPing   = "ping"
	evictedDevice = "device"
)

// metrics are one server's counters, in a registry of its own so that two
// servers in one process (tests) never share or clash. A nil *metrics
// counts nothing, for hubs and handlers built without a server.
type metrics struct {
	reg          *prometheus.Registry
	pings        *prometheus.CounterVec
	pushes       prometheus.Counter
	handshakes   *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	lockouts     *prometheus.CounterVec
	busy         prometheus.Counter
	evictions    *prometheus.CounterVec
}

func newMetrics(hub *Hub, certs *Certificates) *metrics {
	m := &metrics{
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
	for _, e := range []string{PingChanges, PingExpired, PingSuperseded, PingShutdown, PingCut, PingEvicted} {
		m.pings.WithLabelValues(e)
	}
	for _, r := range []string{realmActiveSync, realmAdmin, realmDashboard, realmMetrics} {
		m.authFailures.WithLabelValues(r)
	}
	for _, r := range []string{realmActiveSync, realmDashboard} {
		m.lockouts.WithLabelValues(r)
	}
	for _, k := range []string{evictedPing, evictedDevice} {
		m.evictions.WithLabelValues(k)
	}
	m.reg.MustRegister(m.pings, m.pushes, m.handshakes, m.authFailures, m.lockouts, m.busy, m.evictions,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pushca_pings_held", Help: "Pings held open now.",
		}, func() float64 { return float64(hub.Held()) }),
		certCollector{certs},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) pingEnded(outcome string) {
	if m != nil {
		m.pings.WithLabelValues(outcome).Inc()
	}
}

func (m *metrics) pushed() {
	if m != nil {
		m.pushes.Inc()
	}
}

func (m *metrics) authFailed(realm string) {
	if m != nil {
		m.authFailures.WithLabelValues(realm).Inc()
	}
}

func (m *metrics) lockedOut(realm string) {
	if m != nil {
		m.lockouts.WithLabelValues(realm).Inc()
	}
}

func (m *metrics) refusedBusy() {
	if m != nil {
		m.busy.Inc()
	}
}

func (m *metrics) evicted(kind string) {
	if m != nil {
		m.evictions.WithLabelValues(kind).Inc()
	}
}

// handshake is tls.Config.VerifyConnection, which the server side calls
// on every handshake, full or resumed.
func (m *metrics) handshake(cs tls.ConnectionState) error {
	if m != nil {
		m.handshakes.WithLabelValues(tls.VersionName(cs.Version)).Inc()
	}
	return nil
}

// handler serves the registry to holders of the metrics or the admin token.
func (m *metrics) handler(metricsToken, adminToken *token) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return requireToken(realmMetrics, m, h, metricsToken, adminToken)
}

var certDaysDesc = prometheus.NewDesc("pushca_certificate_days_left",
	"Days until the served server certificate expires (negative once expired).", []string{"serial", "subject"}, nil)

// certCollector reads the certificates at scrape time, so a renewal shows
// at the next scrape.
type certCollector struct{ certs *Certificates }

func (c certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- certDaysDesc }

func (c certCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, served := range c.certs.current() {
		leaf := served.cert.Leaf
		ch <- prometheus.MustNewConstMetric(certDaysDesc, prometheus.GaugeValue,
			leaf.NotAfter.Sub(now).Hours()/24, leaf.SerialNumber.String(), leaf.Subject.CommonName)
	}
}
