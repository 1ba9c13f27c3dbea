package pgstate_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/pgstate"
	"github.com/pushca/pushca/push/state"
)

// wait bounds every wait on something another goroutine or instance does;
// generous, as it is only reached when the test fails.
const wait = 10 * time.Second

var dbCount atomic.Int64

// newDatabase creates a fresh database on s and returns its DSN.
func newDatabase(t testing.TB, s *pgtest.Server) string {
	return s.CreateDB(t, fmt.Sprintf("push%d", dbCount.Add(1)))
}

// openDB opens dsn as one endpoint, closed when t ends.
func openDB(t testing.TB, dsn string) *pgstate.DB {
	t.Helper()
	db, err := pgstate.Open(context.Background(), dsn, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// changes subscribes to f and hands over what it hears, dropping what
// the test does not wait for.
func changes(t testing.TB, f state.Feed) <-chan state.Change {
	c := make(chan state.Change, 100)
	t.Cleanup(f.Subscribe(func(_ context.Context, ch state.Change) {
		select {
		case c <- ch:
		default:
		}
	}))
	return c
}

// waitFor returns the first change on c that match accepts.
func waitFor(t testing.TB, c <-chan state.Change, what string, match func(state.Change) bool) state.Change {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ch := <-c:
			if match(ch) {
				return ch
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, wait)
		}
	}
}

// terminate ends the backends named app, as an outage would, and returns
// how many there were.
func terminate(t testing.TB, dsn, app string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func timeout() <-chan time.Time { return time.After(wait) }

// pause is the step of a bounded wait for a state no event announces.
func pause() { time.Sleep(10 * time.Millisecond) }
