package load

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

// TestRunMeasuresBothServers loads each server with a small crowd: every
// device must hold its Ping, every probe must be woken by its own push, and
// the broadcast must answer every held Ping; the figures must be present
// (their size is the benchmark's business, not a test's).
func TestRunMeasuresBothServers(t *testing.T) {
	const devices, probes = 40, 3
	f := newFixture(t, probes)
	for _, kind := range []string{"baseline", "pushca"} {
		t.Run(kind, func(t *testing.T) {
			s := startChild(t, kind, f)
			cfg := s.config(f, devices, probes)
			cfg.Idle = 500 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r, err := Run(ctx, cfg)
			if err != nil {
				t.Fatalf("run: %v (result %+v)", err, r)
			}
			if r.Held != devices || r.Errors != 0 || r.Answered != devices {
				t.Fatalf("held %d, errors %d %v, broadcast answered %d; want %d, 0, %d", r.Held, r.Errors, r.First, r.Answered, devices, devices)
			}
			if r.Push.Samples != probes || r.Push.P50 <= 0 || r.Push.Max < r.Push.P99 || r.Push.P99 < r.Push.P50 {
				t.Errorf("push latency %+v", r.Push)
			}
			if r.Broadcast.Samples != devices || r.Broadcast.Max < r.Broadcast.P50 {
				t.Errorf("broadcast %+v", r.Broadcast)
			}
			if r.Before.RSS <= 0 || r.HeldMemory.Anon <= 0 || r.HeldMemory.Anon > r.HeldMemory.RSS || r.IdleCPU < 0 {
				t.Errorf("server figures: memory %+v → %+v, idle CPU %v", r.Before, r.HeldMemory, r.IdleCPU)
			}
			for _, suite := range Suites() {
				h, err := MeasureHandshakes(ctx, s.https, testHost, f.roots, suite, 2, 300*time.Millisecond, &s.proc)
				if err != nil {
					t.Fatalf("%s: %v", suite.Name, err)
				}
				if h.Count == 0 || h.Errors != 0 || (suite.LeafType != "" && h.Leaf != suite.LeafType) {
					t.Errorf("%s: %+v", suite.Name, h)
				}
			}
		})
	}
}

// TestRunRefusesWrongRoot: a device that does not trust the chain is an
// error, reported, not a hang.
func TestRunRefusesWrongRoot(t *testing.T) {
	f := newFixture(t, 0)
	s := startChild(t, "pushca", f)
	f.roots = []*x509.Certificate{otherRoot(t)}
	cfg := s.config(f, 3, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err == nil || r.Errors != 3 || len(r.First) == 0 {
		t.Fatalf("err %v, result %+v; want every device refused", err, r)
	}
}

// otherRoot is a root that issued nothing the servers send.
func otherRoot(t *testing.T) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pushca Root CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	return testtool.Certificate(t, tmpl, nil, &k.PublicKey, k)
}

func TestSummarise(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := summarise(s)
	want := Latency{Samples: 100, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if one := summarise(s[:1]); one.P50 != s[0] || one.P99 != s[0] {
		t.Errorf("one sample: %+v", one)
	}
	if summarise(nil) != (Latency{}) {
		t.Error("no samples")
	}
}

// TestProcessReadsProc checks the /proc readers against this process,
// whose memory and CPU are surely above zero.
func TestProcessReadsProc(t *testing.T) {
	p := Process{PID: os.Getpid()}
	m, err := p.Memory()
	if err != nil || m.RSS < 1<<20 || m.Anon < 1<<20 || m.Anon > m.RSS {
		t.Fatalf("memory %+v, %v", m, err)
	}
	for i := 0; i < 50_000_000; i++ { // burn a little CPU
		_ = i * i
	}
	cpu, err := p.CPUSeconds()
	if err != nil || cpu <= 0 {
		t.Fatalf("cpu %v, %v", cpu, err)
	}
	if _, err := (Process{PID: 1 << 30}).Memory(); err == nil {
		t.Error("a missing process has no memory")
	}
}

// TestRunSpreadsOverInstances: with a second endpoint the crowd and the
// probes are split between the two, each probe's push goes through the
// endpoint its device is not on, and the memory figures count both
// processes. The two baseline servers share nothing, so the test's
// delivery stands in for a shared store: it delivers on every server.
func TestRunSpreadsOverInstances(t *testing.T) {
	const devices, probes = 10, 4
	f := newFixture(t, probes)
	a, b := startChild(t, "baseline", f), startChild(t, "baseline", f)
	cfg := a.config(f, devices, probes)
	cfg.Instances = []Instance{{URL: "https://" + b.https, Server: &b.proc}}
	cfg.Idle = 200 * time.Millisecond
	var mu sync.Mutex
	through := map[string][]int{} // user: the instances delivered through
	cfg.Deliver = func(ctx context.Context, instance int, user string) error {
		mu.Lock()
		through[user] = append(through[user], instance)
		mu.Unlock()
		for _, s := range []*server{a, b} {
			if err := s.deliver(ctx, user); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("run: %v (result %+v)", err, r)
	}
	if r.Instances != 2 || r.Held != devices || r.Answered != devices || r.Push.Samples != probes {
		t.Fatalf("instances %d, held %d, answered %d, probes %d: want 2, %d, %d, %d", r.Instances, r.Held, r.Answered, r.Push.Samples, devices, devices, probes)
	}
	for i := range probes {
		// Probe i is device number devices+i, on instance (devices+i)%2.
		want := (devices + i + 1) % 2
		if got := through[probeLogin(i)]; !slices.Equal(got, []int{want}) {
			t.Errorf("probe %d delivered through %v, want [%d]: the push must cross instances", i, got, want)
		}
	}
	if got := through[crowdUser]; !slices.Equal(got, []int{0}) {
		t.Errorf("broadcast delivered through %v, want [0]", got)
	}
	for _, s := range []*server{a, b} {
		if n := answeredOn(t, s); n != (devices+probes)/2 {
			t.Errorf("server %s answered %d Pings, want %d: half the crowd and half the probes", s.https, n, (devices+probes)/2)
		}
	}
	one, err := a.proc.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if r.HeldMemory.RSS <= one.RSS {
		t.Errorf("held memory %d is not the sum over both servers (the first alone has %d)", r.HeldMemory.RSS, one.RSS)
	}
}

// TestRunOverTwoInstancesOnPostgreSQL: two pushca servers on one
// PostgreSQL database serve one crowd split between them; every probe's
// push goes through the server its device is not on and must still wake
// it (LISTEN/NOTIFY), and the broadcast through the first must wake the
// half of the crowd the second holds.
func TestRunOverTwoInstancesOnPostgreSQL(t *testing.T) {
	const devices, probes = 20, 4
	f := sharedFixture(t, newFixture(t, probes), probes)
	servers := []*server{startChild(t, "pushca-pg", f), startChild(t, "pushca-pg", f)}
	cfg := instancesConfig(f, servers, devices, probes)
	cfg.Idle = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("run: %v (result %+v)", err, r)
	}
	if r.Instances != 2 || r.Held != devices || r.Errors != 0 || r.Answered != devices || r.Push.Samples != probes {
		t.Fatalf("instances %d, held %d, errors %d %v, answered %d, probes %d: want 2, %d, 0, %d, %d",
			r.Instances, r.Held, r.Errors, r.First, r.Answered, r.Push.Samples, devices, devices, probes)
	}
}
