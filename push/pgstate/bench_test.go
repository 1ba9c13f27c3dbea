package pgstate_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/push/pgstate"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// BenchmarkDeliver times a delivery on one endpoint until the Ping it
// wakes on the other is answered: two hubs on one memory store (the
// in-process baseline), then on two DBs sharing one PostgreSQL, where the
// wake-up goes through NOTIFY. Parking the Ping is not timed. pgtest runs
// PostgreSQL with fsync off, so the figures leave out the disk.
func BenchmarkDeliver(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	hub := func(b *testing.B, devices state.PingDevices, store state.Store) *ping.Hub {
		h, err := ping.NewHub(devices, store, ping.HeartbeatBounds{Min: 1, Max: 3540}, quiet)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(h.Close)
		return h
	}
	run := func(b *testing.B, holder, deliverer *ping.Hub) {
		ctx := context.Background()
		var took, stored []time.Duration
		b.ResetTimer() // the database's start is not the delivery's
		for i := range b.N {
			b.StopTimer()
			user := fmt.Sprint("u", i) // a fresh folder: the Ping parks
			ping := hold(b, holder, user, "D1")
			// As the load's probes wait: the Ping's note is being written
			// behind when the delivery comes.
			time.Sleep(parked)
			b.StartTimer()
			start := time.Now()
			if _, _, err := deliverer.Deliver(ctx, user, state.Message{}); err != nil {
				b.Fatal(err)
			}
			delivered := time.Since(start)
			if r := answer(b, ping); r.Status != eas.PingChanges {
				b.Fatalf("answer %+v", r)
			}
			took = append(took, time.Since(start))
			stored = append(stored, delivered)
		}
		// The goal is on the tail, which the mean hides; the delivery's
		// own share tells the statement from the way back through NOTIFY.
		b.ReportMetric(float64(pct(took, 50).Microseconds()), "p50-µs")
		b.ReportMetric(float64(pct(took, 99).Microseconds()), "p99-µs")
		b.ReportMetric(float64(pct(took, 100).Microseconds()), "max-µs")
		b.ReportMetric(float64(pct(stored, 99).Microseconds()), "deliver-p99-µs")
		b.ReportMetric(float64(pct(stored, 100).Microseconds()), "deliver-max-µs")
	}
	b.Run("memory", func(b *testing.B) {
		devices, err := state.OpenBoltDevices(filepath.Join(b.TempDir(), "devices.db"), quiet)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { devices.Close() })
		mem := state.NewMemory()
		run(b, hub(b, devices, mem), hub(b, devices, mem))
	})
	b.Run("pgstate", func(b *testing.B) {
		dsn := newDatabase(b, pgtest.Start(b))
		dbA, dbB := openDB(b, dsn), openDB(b, dsn)
		run(b, hub(b, dbA.Devices(), dbA.Store()), hub(b, dbB.Devices(), dbB.Store()))
	})
}

// parked is how long BenchmarkDeliver leaves a Ping parked before it
// delivers, the load's probes' wait.
const parked = 200 * time.Millisecond

// pct is the p-th percentile of d, which it sorts.
func pct(d []time.Duration, p int) time.Duration {
	slices.Sort(d)
	return d[(len(d)-1)*p/100]
}

// BenchmarkFlush times writing behind one note on each of flushRecords
// existing records, as after a crowd's Pings: the flush holds back every
// read of the records while a chunk commits, so its length is what a
// Ping parking meanwhile waits.
func BenchmarkFlush(b *testing.B) {
	const flushRecords = 1000
	ctx := context.Background()
	dsn := newDatabase(b, pgtest.Start(b))
	setup := openDB(b, dsn).Devices()
	for i := range flushRecords {
		if _, err := setup.Update(ctx, fmt.Sprint("u", i), "D1", func(*state.Device) {}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		b.StopTimer()
		db, err := pgstate.Open(ctx, dsn, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		for i := range flushRecords {
			db.Devices().(state.PingDevices).NotePing(fmt.Sprint("u", i), "D1", 900, []string{"1"})
		}
		b.StartTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*flushRecords), "µs/record")
}
