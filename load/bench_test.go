package load

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkEndpoints runs the whole load against pushca and against the
// bare net/http long-poll server, one after the other on the same chains,
// and reports both, so every figure has its yardstick from the same run:
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
				if err := s.proc.WaitIdle(ctx, 30*time.Second); err != nil {
					cancel()
					b.Fatal(err)
				}
				for _, suite := range Suites() {
					h, err := MeasureHandshakes(ctx, s.https, testHost, f.roots, suite, 2*runtime.GOMAXPROCS(0), 3*time.Second, &s.proc)
					if err != nil {
						cancel()
						b.Fatal(err)
					}
					b.ReportMetric(h.PerCoreSec, fmt.Sprintf("hs/core-s(%s)", suiteUnit(suite)))
				}
				cancel()
			}
		})
	}
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
