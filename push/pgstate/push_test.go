package pgstate_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/pgstate"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// endpoint is one push endpoint's hub on its own DB.
func endpoint(t testing.TB, db *pgstate.DB) *ping.Hub {
	t.Helper()
	h, err := ping.NewHub(db.Devices(), db.Store(), ping.HeartbeatBounds{Min: 1, Max: 3540}, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// hold parks a Ping on the Inbox and hands over its answer.
func hold(t testing.TB, h *ping.Hub, user, device string) <-chan ping.Result {
	t.Helper()
	c := make(chan ping.Result, 1)
	h.Hold(context.Background(), user, device, ping.Request{Heartbeat: 3000, Folders: []string{"1"}}, func(r ping.Result) { c <- r })
	waitHeld(t, h, 1)
	return c
}

func waitHeld(t testing.TB, h *ping.Hub, n int) {
	t.Helper()
	for range 1000 {
		if h.Held() == n {
			return
		}
		pause()
	}
	t.Fatalf("%d Pings held, want %d", h.Held(), n)
}

func answer(t testing.TB, c <-chan ping.Result) ping.Result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-timeout():
		t.Fatalf("no answer within %v", wait)
	}
	return ping.Result{}
}

// A Ping held on A answers Status 2 when the message is delivered on B.
func TestDeliveryOnBWakesPingOnA(t *testing.T) {
	s := pgtest.Start(t)
	dsn := newDatabase(t, s)
	a, b := endpoint(t, openDB(t, dsn)), endpoint(t, openDB(t, dsn))
	ping := hold(t, a, "alice", "D1")
	if _, woken, err := b.Deliver(context.Background(), "alice", state.Message{Subject: "via B"}); err != nil || woken != 0 {
		t.Fatalf("deliver on B, which holds no Ping: woken %d, %v", woken, err)
	}
	if r := answer(t, ping); r.Status != eas.PingChanges || r.Folders[0] != "1" {
		t.Fatalf("A's Ping: %+v, want Status 2 for the Inbox", r)
	}
}

// One outstanding Ping per device across endpoints: the device's newer
// Ping on B ends its older one on A.
func TestNewerPingOnBEndsOlderOnA(t *testing.T) {
	s := pgtest.Start(t)
	dsn := newDatabase(t, s)
	a, b := endpoint(t, openDB(t, dsn)), endpoint(t, openDB(t, dsn))
	older := hold(t, a, "alice", "D1")
	newer := hold(t, b, "alice", "D1")
	if r := answer(t, older); r.Status != eas.PingExpired || r.Outcome != ping.Superseded {
		t.Fatalf("A's older Ping: %+v, want Status 1, superseded", r)
	}
	if b.Held() != 1 {
		t.Fatal("B's newer Ping was ended too")
	}
	select {
	case r := <-newer:
		t.Fatalf("B's newer Ping answered: %+v", r)
	default:
	}
}

// NOTIFY has no replay: a delivery made on B while A's listener is cut off
// reaches A's Ping through the Resync raised once A listens again.
func TestPingAnsweredAfterListenerReconnects(t *testing.T) {
	s := pgtest.Start(t)
	dsn := newDatabase(t, s)
	var dials atomic.Int32
	redialing, release := make(chan struct{}, 1), make(chan struct{})
	dbA, err := pgstate.OpenDialing(context.Background(), dsn, testtool.Log(t), func(ctx context.Context, next func(context.Context) (*pgx.Conn, error)) (*pgx.Conn, error) {
		if dials.Add(1) > 1 {
			select {
			case redialing <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return next(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dbA.Close() })
	a, b := endpoint(t, dbA), endpoint(t, openDB(t, dsn))
	ping := hold(t, a, "alice", "D1")

	if n := terminate(t, dsn, pgstate.ListenerName(dbA)); n != 1 {
		t.Fatalf("terminated %d listening connections of A, want 1", n)
	}
	select {
	case <-redialing:
	case <-timeout():
		t.Fatal("A's listener did not try to reconnect")
	}
	if _, _, err := b.Deliver(context.Background(), "alice", state.Message{Subject: "during the outage"}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if r := answer(t, ping); r.Status != eas.PingChanges {
		t.Fatalf("A's Ping after the reconnect: %+v, want Status 2", r)
	}
}
