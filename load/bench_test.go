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
	n := 1000
	if s := os.Getenv("PUSHCA_LOAD_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("PUSHCA_LOAD_N=%q: want a positive number", s)
		}
		n = v
	}
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

// BenchmarkHandshakes measures full handshakes per server core-second, per
// suite, of pushca and the baseline running side by side and idle, taking
// turns (rounds × suites × servers, 1 s each, the first server of a turn
// alternating), so that a slow spell of the shared machine falls on both.
// It reports each server's median per suite and pushca's median over the
// baseline's:
//
//	go test -run '^$' -bench Handshakes -benchtime 1x ./load/
func BenchmarkHandshakes(b *testing.B) {
	const rounds = 9
	f := newFixture(b, 0)
	kinds := []string{"baseline", "pushca"}
	servers := map[string]*server{}
	for _, k := range kinds {
		servers[k] = startChild(b, k, f)
	}
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		rates := map[string]map[string][]float64{} // suite, server
		for round := range rounds {
			for _, suite := range Suites() {
				if rates[suite.Name] == nil {
					rates[suite.Name] = map[string][]float64{}
				}
				for i := range kinds {
					k := kinds[(i+round)%len(kinds)]
					s := servers[k]
					if err := s.proc.WaitIdle(ctx, 30*time.Second); err != nil {
						cancel()
						b.Fatal(err)
					}
					h, err := MeasureHandshakes(ctx, s.https, testHost, f.roots, suite, 2*runtime.GOMAXPROCS(0), time.Second, &s.proc)
					if err != nil {
						cancel()
						b.Fatal(err)
					}
					rates[suite.Name][k] = append(rates[suite.Name][k], h.PerCoreSec)
				}
			}
		}
		cancel()
		for _, suite := range Suites() {
			b.Logf("%s: baseline %.0f, pushca %.0f handshakes per server core-second", suite.Name, rates[suite.Name]["baseline"], rates[suite.Name]["pushca"])
			base, ours := median(rates[suite.Name]["baseline"]), median(rates[suite.Name]["pushca"])
			u := suiteUnit(suite)
			b.ReportMetric(base, fmt.Sprintf("baseline-hs/core-s(%s)", u))
			b.ReportMetric(ours, fmt.Sprintf("pushca-hs/core-s(%s)", u))
			b.ReportMetric(ours/base, fmt.Sprintf("ratio(%s)", u))
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
