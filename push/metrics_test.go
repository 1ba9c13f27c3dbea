package push

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/ping"
)

// scrape fetches /metrics with curl as Prometheus would (bearer token,
// the test root as CA) and parses it with the client library's parser.
func (ts *testServer) scrape(t *testing.T, token string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	port := ts.HTTPSAddr()[strings.LastIndexByte(ts.HTTPSAddr(), ':')+1:]
	out := testtool.MustRun(t, nil, "curl", "-sS", "--max-time", "30", "--cacert", ts.rootPath,
		"--resolve", testHost+":"+port+":127.0.0.1", "-H", "Authorization: Bearer "+token, "-w", "\n%{http_code}",
		"https://"+testHost+":"+port+ops.MetricsPath)
	text := string(out)
	i := strings.LastIndexByte(text, '\n')
	body, code := text[:i], text[i+1:]
	if code != "200" {
		return nil, code
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams, code
}

// value is the metric of fam whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range fam.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no %s with labels %v in %v", name, want, fam)
	return 0
}

// TestMetricsScrape drives each counted event through the real listeners,
// then scrapes: a Ping held, one ended by a push, one that expired, a bad
// device password, a bad scrape token, handshakes at TLS 1.2 (openssl) and
// 1.3 (Go client), and the served certificate's days left.
func TestMetricsScrape(t *testing.T) {
	testtool.Path(t, "openssl")
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	if _, code := ts.scrape(t, "wrong"); code != "401" {
		t.Fatalf("scrape with a wrong token: HTTP %s", code)
	}
	ts.curl(t, "-X", "OPTIONS", "-u", "alice:wrong")
	testtool.MustRun(t, []byte{}, "openssl", "s_client", "-connect", ts.HTTPSAddr(), "-servername", testHost, "-tls1_2", "-CAfile", ts.rootPath)

	c := ts.client("14.1", "METRIC1", false)
	if _, err := c.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Ping(context.Background(), inboxPing(1)); err != nil || r.Status != 1 {
		t.Fatalf("1 s Ping: %v %v", r, err)
	}
	pushed := ts.heldPing(t, c, inboxPing(600))
	held, _ := ts.scrape(t, ts.Token())
	if v := value(t, held, "pushca_pings_held", nil); v != 1 {
		t.Errorf("pushca_pings_held = %v while one Ping is held", v)
	}
	ts.deliver(t, "metrics", "body")
	pingStatus(t, pushed)

	fams, _ := ts.scrape(t, ts.Token())
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"pushca_pings_held", nil, 0},
		{"pushca_pings_total", map[string]string{"ending": ping.Changes}, 1},
		{"pushca_pings_total", map[string]string{"ending": ping.Expired}, 1},
		{"pushca_pings_total", map[string]string{"ending": ping.Cut}, 0},
		{"pushca_pushes_total", nil, 1},
		{"pushca_auth_failures_total", map[string]string{"realm": ops.RealmActiveSync}, 1},
		{"pushca_auth_failures_total", map[string]string{"realm": "metrics"}, 1},
		{"pushca_auth_failures_total", map[string]string{"realm": "admin"}, 0},
		{"pushca_auth_failures_total", map[string]string{"realm": "dashboard"}, 0},
		{"pushca_tls_handshakes_total", map[string]string{"version": "TLS 1.2"}, 1},
	} {
		if got := value(t, fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// curl's scrapes and Options, the Go client's connection(s).
	if v := value(t, fams, "pushca_tls_handshakes_total", map[string]string{"version": "TLS 1.3"}); v < 4 {
		t.Errorf("TLS 1.3 handshakes = %v, want at least 4", v)
	}
	leaf := ts.certs.current()[0].cert.Leaf
	days := value(t, fams, "pushca_certificate_days_left", map[string]string{"serial": leaf.SerialNumber.String(), "subject": testHost})
	if days <= 0.9 || days > 1 { // the test leaf lives 24 hours
		t.Errorf("pushca_certificate_days_left = %v, want just under 1", days)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

// TestLeakedScrapeTokenOpensNoDashboard: the token a Prometheus scrape
// configuration carries reads /metrics and nothing else, neither the
// dashboard nor the admin API; the admin token still reads /metrics.
func TestLeakedScrapeTokenOpensNoDashboard(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	scrapeToken := ts.MetricsToken()
	if scrapeToken == ts.Token() || len(scrapeToken) < 32 {
		t.Fatalf("metrics token %q: want its own random token", scrapeToken)
	}
	if fi, err := os.Stat(MetricsTokenPath(ts.dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("metrics token file: %v %v", fi, err)
	}
	for name, tok := range map[string]string{"metrics": scrapeToken, "admin": ts.Token()} {
		if _, code := ts.scrape(t, tok); code != "200" {
			t.Errorf("scrape with the %s token: HTTP %s", name, code)
		}
	}
	c, base, _ := dashboardClient(t, ts)
	resp, err := c.PostForm(base+ops.LoginPath, url.Values{"token": {scrapeToken}})
	if err != nil {
		t.Fatal(err)
	}
	if testtool.ReadBody(t, resp); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("dashboard login with the metrics token: %s, cookies %v", resp.Status, resp.Cookies())
	}
	if _, err := ops.Deliver(context.Background(), "http://"+ts.AdminAddr(), scrapeToken, ops.DeliverRequest{User: "alice"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("admin API with the metrics token: %v", err)
	}
}
