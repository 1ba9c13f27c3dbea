package push

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pushca/pushca/eas"
)

// parkPings parks n Pings of n different users and returns once the hub
// holds all of them, with a function that ends them.
func parkPings(b *testing.B, h *Hub, n int) (stop func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ping(h, ctx, fmt.Sprintf("user%d", i), "dev", PingRequest{Heartbeat: 3000, Folders: []string{inboxID}})
		}()
	}
	for range 60000 {
		if h.Held() == n {
			return func() { cancel(); wg.Wait() }
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	b.Fatalf("only %d of %d Pings parked", h.Held(), n)
	return nil
}

// BenchmarkHeldPingMemory reports the heap and stack a parked Ping costs in
// the hub (its goroutine, timer, channel and mailbox), without the HTTP and
// TLS connection around it.
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
			h := newTestHub(b, HeartbeatBounds{1, 3540})
			stop := parkPings(b, h, others)
			defer stop()
			ctx := context.Background()
			var total time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				done := make(chan PingResult, 1)
				go h.Ping(ctx, "target", "dev", PingRequest{Heartbeat: 3000, Folders: []string{inboxID}}, func(r PingResult) { done <- r })
				spinUntil(b, func() bool { return h.heldBy("target", "dev") != nil })
				b.StartTimer()
				start := time.Now()
				m, _ := h.Deliver("target", Message{Subject: "bench"})
				r := <-done
				total += time.Since(start)
				b.StopTimer()
				if r.Status != eas.PingChanges {
					b.Fatalf("status %v", r.Status)
				}
				// The device syncs, so the next Ping parks again.
				h.devices.Update("target", "dev", func(d *Device) { d.Sync = map[string]SyncState{inboxID: {Key: "1", Seq: m.Seq}} })
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
