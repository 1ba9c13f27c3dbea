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
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// BenchmarkHeldPingMemoryTLS reports what a held Ping costs the whole
// server: TLS connection, HTTP handler, hub and device record. The devices
// are a child process (this test binary run again), so their memory is not
// counted.
func BenchmarkHeldPingMemoryTLS(b *testing.B) {
	const n = 1000
	for range b.N {
		// All n devices are alice's, far beyond the per-user limit.
		ts := startServerWith(b, ping.HeartbeatBounds{Min: 1, Max: 3540}, func(c *Config) { c.DevicesPerUser = -1 })
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
