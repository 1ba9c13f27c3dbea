package pgstate_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/state"
)

// BenchmarkDeliver times a delivery on one endpoint until the Ping it
// wakes on the other is answered: two hubs on one memory store (the
// in-process baseline), then on two DBs sharing one PostgreSQL, where the
// wake-up goes through NOTIFY. Parking the Ping is not timed. pgtest runs
// PostgreSQL with fsync off, so the figures leave out the disk.
func BenchmarkDeliver(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	hub := func(b *testing.B, devices state.PingDevices, store state.Store) *push.Hub {
		h, err := push.NewHub(devices, store, push.HeartbeatBounds{Min: 1, Max: 3540}, quiet)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(h.Close)
		return h
	}
	run := func(b *testing.B, holder, deliverer *push.Hub) {
		ctx := context.Background()
		for i := range b.N {
			b.StopTimer()
			user := fmt.Sprint("u", i) // a fresh folder: the Ping parks
			ping := hold(b, holder, user, "D1")
			b.StartTimer()
			if _, _, err := deliverer.Deliver(ctx, user, state.Message{}); err != nil {
				b.Fatal(err)
			}
			if r := answer(b, ping); r.Status != eas.PingChanges {
				b.Fatalf("answer %+v", r)
			}
		}
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
