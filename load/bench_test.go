package load

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/profile"
)

// BenchmarkEndpoints runs the whole load against pushca and against the
// bare net/http long-poll server, one after the other on the same chains,
// and reports both, so every figure has its yardstick from the same run
// (handshake rates are BenchmarkHandshakes'):
//
//	PUSHCA_LOAD_N=19000 go test -run '^$' -bench Endpoints -benchtime 1x -timeout 30m ./load/
//
// PUSHCA_LOAD_N is the number of devices held (default 1000). With
// PUSHCA_LOAD_PROFILE=/tmp/bc set, the broadcast is profiled: /tmp/bc.pushca.cpu
// and .trace from the server, /tmp/bc.pushca.client.cpu from the client (the
// same for baseline); run the test binary built with go test -c, so that
// go tool pprof and go tool trace -pprof=sync find its symbols.
func BenchmarkEndpoints(b *testing.B) {
	n := loadN(b)
	const probes = 200
	f := newFixture(b, probes)
	for _, kind := range []string{"baseline", "pushca"} {
		b.Run(kind, func(b *testing.B) {
			for range b.N {
				s := startChild(b, kind, f)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
				r, err := Run(ctx, s.config(f, n, probes))
				if err != nil {
					cancel()
					b.Fatalf("%v (result %+v)", err, r)
				}
				b.ReportMetric(float64(r.Held), "held")
				b.ReportMetric(float64(r.Errors), "errors")
				per := r.PerPing()
				b.ReportMetric(float64(per.RSS)/1024, "rss-KiB/held-ping")
				b.ReportMetric(float64(per.Anon)/1024, "anon-KiB/held-ping")
				b.ReportMetric(r.IdleCPU*100, "idle-%core")
				b.ReportMetric(us(r.Push.P50), "push-p50-µs")
				b.ReportMetric(us(r.Push.P99), "push-p99-µs")
				b.ReportMetric(us(r.Push.Max), "push-max-µs")
				b.ReportMetric(us(r.Broadcast.P50)/1000, "broadcast-p50-ms")
				b.ReportMetric(us(r.Broadcast.P99)/1000, "broadcast-p99-ms")
				cancel()
			}
		})
	}
}

// loadN is PUSHCA_LOAD_N, the number of devices held (default 1000).
func loadN(b *testing.B) int {
	s := os.Getenv("PUSHCA_LOAD_N")
	if s == "" {
		return 1000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("PUSHCA_LOAD_N=%q: want a positive number", s)
	}
	return n
}

// BenchmarkInstances is issue #17's load: pushca serving one PostgreSQL
// database, first as one server holding every Ping, then as two holding
// half each, with every timed push delivered through the server the probe
// is not on and the broadcast through the first. It reports both runs and
// the broadcast p99 of two over one (goal ≤ 1.5) and the cross-server
// push p99 (goal ≤ 10 ms). PostgreSQL runs as internal/pgtest starts it,
// fsync off:
//
//	PUSHCA_LOAD_N=19000 go test -run '^$' -bench Instances -benchtime 1x -timeout 30m ./load/
func BenchmarkInstances(b *testing.B) {
	n := loadN(b)
	const probes = 200
	pg := pgtest.Start(b)
	base := newFixture(b, probes)
	for i := range b.N {
		runs := map[int]*Result{}
		for _, count := range []int{1, 2} {
			// A database of its own for each run, so that the second does
			// not start on the first's rows and dead tuples.
			f := withDatabase(b, pg, base, fmt.Sprintf("pushca_%d_%d", i, count), probes)
			var servers []*server
			for range count {
				servers = append(servers, startChild(b, sharedKind, f))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			r, err := Run(ctx, instancesConfig(f, servers, n, probes))
			cancel()
			if err != nil {
				b.Fatalf("%d server(s): %v (result %+v)", count, err, r)
			}
			for _, s := range servers {
				s.stop()
			}
			runs[count] = r
			unit := fmt.Sprintf("(%d)", count)
			b.ReportMetric(float64(r.Held), "held"+unit)
			b.ReportMetric(float64(r.Errors), "errors"+unit)
			b.ReportMetric(float64(r.PerPing().RSS)/1024, "rss-KiB/held-ping"+unit)
			b.ReportMetric(us(r.Push.P50), "push-p50-µs"+unit)
			b.ReportMetric(us(r.Push.P99), "push-p99-µs"+unit)
			b.ReportMetric(us(r.Broadcast.P50)/1000, "broadcast-p50-ms"+unit)
			b.ReportMetric(us(r.Broadcast.P99)/1000, "broadcast-p99-ms"+unit)
		}
		b.ReportMetric(float64(runs[2].Broadcast.P99)/float64(runs[1].Broadcast.P99), "broadcast-p99-two/one")
	}
}

// BenchmarkHandshakes measures full handshakes per server core-second, per
// suite, of three servers running side by side and idle: pushca serving
// the fixture's two chain families as `pushca serve --host` does, pushca
// serving alone the one family the suite's clients get, and the baseline.
// They take turns (rounds × suites × servers, 1 s each, the first server of
// a turn rotating), so that a slow spell of the shared machine falls on
// all. It reports each server's median per suite, pushca's median over the
// baseline's, and the two-family server's over the one-family server's:
// what choosing a chain per ClientHello costs.
//
//	go test -run '^$' -bench Handshakes -benchtime 1x ./load/
func BenchmarkHandshakes(b *testing.B) {
	const rounds = 9
	f := newFixture(b, 0)
	servers := map[string]*server{}
	for _, k := range []string{"baseline", "pushca", "pushca-" + profile.FamilyLegacy, "pushca-" + profile.FamilyModern} {
		servers[k] = startChild(b, k, f)
	}
	// oneFamily serves what the suite's clients get from the two-family
	// server: the fixture's only RSA chain is the legacy one.
	oneFamily := func(s Suite) string {
		if s.LeafType == "RSA" {
			return "pushca-" + profile.FamilyLegacy
		}
		return "pushca-" + profile.FamilyModern
	}
	labels := []string{"baseline", "pushca", "one-family"}
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		rates := map[string]map[string][]float64{} // suite, label
		for round := range rounds {
			for _, suite := range Suites() {
				if rates[suite.Name] == nil {
					rates[suite.Name] = map[string][]float64{}
				}
				kinds := map[string]string{"baseline": "baseline", "pushca": "pushca", "one-family": oneFamily(suite)}
				for i := range labels {
					label := labels[(i+round)%len(labels)]
					s := servers[kinds[label]]
					if err := s.proc.WaitIdle(ctx, 30*time.Second); err != nil {
						cancel()
						b.Fatal(err)
					}
					h, err := MeasureHandshakes(ctx, s.https, testHost, f.roots, suite, 2*runtime.GOMAXPROCS(0), time.Second, &s.proc)
					if err != nil {
						cancel()
						b.Fatalf("%s: %v", s.kind, err)
					}
					rates[suite.Name][label] = append(rates[suite.Name][label], h.PerCoreSec)
				}
			}
		}
		cancel()
		for _, suite := range Suites() {
			r := rates[suite.Name]
			b.Logf("%s: baseline %.0f, pushca %.0f, %s %.0f handshakes per server core-second", suite.Name, r["baseline"], r["pushca"], oneFamily(suite), r["one-family"])
			base, ours, one := median(r["baseline"]), median(r["pushca"]), median(r["one-family"])
			u := suiteUnit(suite)
			b.ReportMetric(base, fmt.Sprintf("baseline-hs/core-s(%s)", u))
			b.ReportMetric(ours, fmt.Sprintf("pushca-hs/core-s(%s)", u))
			b.ReportMetric(one, fmt.Sprintf("one-family-hs/core-s(%s)", u))
			b.ReportMetric(ours/base, fmt.Sprintf("ratio(%s)", u))
			b.ReportMetric(ours/one, fmt.Sprintf("two-families/one(%s)", u))
		}
	}
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// suiteUnit is a suite name without spaces, as benchmark units want.
func suiteUnit(s Suite) string {
	out := []byte(s.Name)
	for i, c := range out {
		if c == ' ' {
			out[i] = '_'
		}
	}
	return string(out)
}
