package ping

import (
	"context"
	"fmt"
	"runtime"
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
		held[i] = h.Hold(context.Background(), fmt.Sprintf("user%d", i), "dev", Request{Heartbeat: 3000, Folders: []string{InboxID}}, func(Result) {})
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
				done := make(chan Result, 1)
				h.Hold(ctx, "target", "dev", Request{Heartbeat: 3000, Folders: []string{InboxID}}, func(r Result) { done <- r })
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
				devices.Update(context.Background(), "target", "dev", func(d *state.Device) { d.Sync = map[string]state.SyncState{InboxID: {Key: "1", Seq: m.Seq}} })
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
