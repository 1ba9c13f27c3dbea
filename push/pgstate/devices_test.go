package pgstate_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/pgstate"
	"github.com/pushca/pushca/push/state"
	"github.com/pushca/pushca/push/state/statetest"
)

func TestDevices(t *testing.T) {
	s := pgtest.Start(t)
	statetest.Devices(t, func(t *testing.T) state.Devices { return openDB(t, newDatabase(t, s)).Devices() })
}

// A note written behind on A lands on the record B updated meanwhile
// without undoing B's update, and is written by Close.
func TestNoteKeepsOtherEndpointsUpdate(t *testing.T) {
	s := pgtest.Start(t)
	dsn := newDatabase(t, s)
	ctx := context.Background()
	dbA := openDB(t, dsn)
	a, b := dbA.Devices(), openDB(t, dsn).Devices()
	if _, err := a.Update(ctx, "alice", "D1", func(d *state.Device) { d.PolicyKey = 1 }); err != nil {
		t.Fatal(err)
	}
	a.NotePing("alice", "D1", 900, []string{"1"})
	if _, err := b.Update(ctx, "alice", "D1", func(d *state.Device) { d.PolicyKey = 2 }); err != nil {
		t.Fatal(err)
	}
	if dev, err := a.Peek(ctx, "alice", "D1"); err != nil || dev.PolicyKey != 2 || dev.Heartbeat != 900 {
		t.Fatalf("A's view: %+v %v, want B's policy key and A's note", dev, err)
	}
	if err := dbA.Close(); err != nil {
		t.Fatal(err)
	}
	if dev, _, err := b.Get(ctx, "alice", "D1"); err != nil || dev.PolicyKey != 2 || dev.Heartbeat != 900 {
		t.Fatalf("after A closed, B reads %+v %v", dev, err)
	}
}

// A user's records beyond the cap go, the one seen longest ago first,
// whichever endpoint made them.
func TestDevicesPerUser(t *testing.T) {
	s := pgtest.Start(t)
	dsn := newDatabase(t, s)
	ctx := context.Background()
	dbA, dbB := openDB(t, dsn), openDB(t, dsn)
	dbA.SetDeviceRules(2, state.DefaultHeartbeatAlert())
	dbB.SetDeviceRules(2, state.DefaultHeartbeatAlert())
	a, b := dbA.Devices(), dbB.Devices()
	var evicted atomic.Int64
	for _, d := range []state.Devices{a, b} {
		d.(state.EvictionCounter).OnEvict(func() { evicted.Add(1) })
	}
	for i, d := range []state.Devices{a, b, a} {
		if _, err := d.Update(ctx, "alice", string(rune('A'+i)), func(*state.Device) {}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Update(ctx, "bob", "A", func(*state.Device) {}); err != nil {
		t.Fatal(err)
	}
	devs, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range devs {
		got = append(got, d.User+"/"+d.ID)
	}
	if len(got) != 3 || got[0] != "alice/B" || got[1] != "alice/C" || got[2] != "bob/A" {
		t.Fatalf("records: %v, want alice/B, alice/C and bob/A", got)
	}
	if n := evicted.Load(); n != 1 {
		t.Fatalf("%d evictions counted, want 1 (alice/A)", n)
	}
}

// statements counts the statements a pool sends.
type statements struct{ n atomic.Int64 }

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	s.n.Add(1)
	return ctx
}

func (*statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A flush writes a chunk of stored records in a few statements, not a few
// per record: while a chunk commits, every read of the records waits.
// The notes still land, and a record not stored yet is still made.
func TestFlushBatchesRecords(t *testing.T) {
	const records = 50
	s := pgtest.Start(t)
	dsn := newDatabase(t, s)
	ctx := context.Background()
	other := openDB(t, dsn).Devices()
	for i := range records {
		if _, err := other.Update(ctx, fmt.Sprint("u", i), "D1", func(d *state.Device) { d.PolicyKey = 7 }); err != nil {
			t.Fatal(err)
		}
	}
	var count statements
	db, err := pgstate.OpenTraced(ctx, dsn, testtool.Log(t), &count)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for i := range records {
		db.Devices().(state.PingDevices).NotePing(fmt.Sprint("u", i), "D1", 900, []string{"1"})
	}
	before := count.n.Load()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// BEGIN, the locking read, the write and COMMIT.
	if n := count.n.Load() - before; n > 4 {
		t.Errorf("flushing %d records took %d statements, want at most 4", records, n)
	}
	devs, err := other.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != records {
		t.Fatalf("%d records, want %d", len(devs), records)
	}
	for _, d := range devs {
		if d.PolicyKey != 7 || d.Heartbeat != 900 {
			t.Fatalf("record %+v: want the update and the note", d)
		}
	}
}
