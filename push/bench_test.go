package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/state"
)

// parkPings parks n Pings of n different users and returns a function
// that cuts them.
func parkPings(b *testing.B, h *Hub, n int) (stop func()) {
	b.Helper()
	held := make([]*Held, n)
	for i := range n {
		held[i] = h.Hold(context.Background(), fmt.Sprintf("user%d", i), "dev", PingRequest{Heartbeat: 3000, Folders: []string{inboxID}}, func(PingResult) {})
	}
	if h.Held() != n {
		b.Fatalf("only %d of %d Pings parked", h.Held(), n)
	}
	return func() {
		for _, x := range held {
			go x.Cut()
		}
		for _, x := range held {
			<-x.Done()
		}
	}
}

// BenchmarkHeldPingMemory reports the heap and stack a parked Ping costs in
// the hub (its record, timer and mailbox), without the HTTP and TLS
// connection around it.
func BenchmarkHeldPingMemory(b *testing.B) {
	const n = 2000
	for range b.N {
		h := newTestHub(b, HeartbeatBounds{1, 3540})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		stop := parkPings(b, h, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		inuse := func(m runtime.MemStats) float64 { return float64(m.HeapInuse + m.StackInuse) }
		b.ReportMetric((inuse(after)-inuse(before))/n, "B/held-ping")
		stop()
	}
}

// BenchmarkPushLatency measures from Deliver to the held Ping of the one
// device of that user answering Status 2 (the moment the handler writes),
// with 0 and 5000 other users' Pings held.
func BenchmarkPushLatency(b *testing.B) {
	for _, others := range []int{0, 5000} {
		b.Run(fmt.Sprintf("held=%d", others), func(b *testing.B) {
			h, devices := newTestHubDevices(b, HeartbeatBounds{1, 3540})
			ctx := context.Background()
			stop := parkPings(b, h, others)
			defer stop()
			var total time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				done := make(chan PingResult, 1)
				h.Hold(ctx, "target", "dev", PingRequest{Heartbeat: 3000, Folders: []string{inboxID}}, func(r PingResult) { done <- r })
				b.StartTimer()
				start := time.Now()
				m, _, err := h.Deliver(ctx, "target", state.Message{Subject: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				r := <-done
				total += time.Since(start)
				b.StopTimer()
				if r.Status != eas.PingChanges {
					b.Fatalf("status %v", r.Status)
				}
				// The device syncs, so the next Ping parks again.
				devices.Update(context.Background(), "target", "dev", func(d *state.Device) { d.Sync = map[string]state.SyncState{inboxID: {Key: "1", Seq: m.Seq}} })
				spinUntil(b, func() bool { return h.heldBy("target", "dev") == nil })
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/push")
		})
	}
}

// spinUntil yields until cond holds, bounded; sleeping would add the
// timer's granularity to what the benchmark measures around it.
func spinUntil(b *testing.B, cond func() bool) {
	for range 10_000_000 {
		if cond() {
			return
		}
		runtime.Gosched()
	}
	b.Fatal("condition not reached")
}

// BenchmarkHeldPingMemoryTLS reports what a held Ping costs the whole
// server: TLS connection, HTTP handler, hub and device record. The devices
// are a child process (this test binary run again), so their memory is not
// counted.
func BenchmarkHeldPingMemoryTLS(b *testing.B) {
	const n = 1000
	for range b.N {
		// All n devices are alice's, far beyond the per-user limit.
		ts := startServerWith(b, HeartbeatBounds{1, 3540}, func(c *Config) { c.DevicesPerUser = -1 })
		for i := range n {
			ts.devices.Update(context.Background(), "alice", fmt.Sprintf("D%d", i), func(d *state.Device) { d.PolicyKey = 1 })
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		child := exec.Command(os.Args[0], "-test.run=^TestHeldPingClients$")
		child.Env = append(os.Environ(), "PUSHCA_BENCH_ADDR="+ts.HTTPSAddr(), "PUSHCA_BENCH_ROOT="+ts.rootPath, fmt.Sprintf("PUSHCA_BENCH_N=%d", n))
		stdin, err := child.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := child.Start(); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 60000 && ts.hub.Held() < n; i++ {
			time.Sleep(time.Millisecond)
		}
		if ts.hub.Held() != n {
			b.Fatalf("%d of %d Pings held", ts.hub.Held(), n)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		inuse := func(m runtime.MemStats) float64 { return float64(m.HeapInuse + m.StackInuse) }
		b.ReportMetric((inuse(after)-inuse(before))/n, "B/held-ping")
		stdin.Close()
		child.Wait()
		ts.stop()
	}
}

// TestHeldPingClients is the device side of BenchmarkHeldPingMemoryTLS:
// it opens PUSHCA_BENCH_N connections, sends a Ping on each and keeps them
// open until stdin closes. Without the environment it does nothing.
func TestHeldPingClients(t *testing.T) {
	addr := os.Getenv("PUSHCA_BENCH_ADDR")
	if addr == "" {
		t.Skip("only run by BenchmarkHeldPingMemoryTLS")
	}
	n, _ := strconv.Atoi(os.Getenv("PUSHCA_BENCH_N"))
	rootPEM, err := os.ReadFile(os.Getenv("PUSHCA_BENCH_ROOT"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	body, err := eas.Marshal(inboxPing(3000))
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for i := range n {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: testHost})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST %s?Cmd=Ping&User=alice&DeviceId=D%d&DeviceType=Bench HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nMS-ASProtocolVersion: 14.1\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
			ActiveSyncPath, i, testHost, eas.BasicAuth("alice", "secret"), eas.ContentType, len(body), body)
		conns = append(conns, c)
	}
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
