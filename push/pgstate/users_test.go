package pgstate_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/pgstate"
	"github.com/pushca/pushca/push/state"
)

// The users file and the PostgreSQL table keep one contract: add, change,
// remove, list and verify through one Users, and each edit seen by a
// second Users on the same store (another process, another host) at its
// next look, within a second or so.
func TestUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	usersContract(t, func(t *testing.T) state.UserSource { return state.FileUsers(path) })
}

// TestUsersOnPostgreSQL: the contract, failing closed, rows written by
// hand, and edits from two hosts at once, on one server.
func TestUsersOnPostgreSQL(t *testing.T) {
	s := pgtest.Start(t)
	t.Run("contract", func(t *testing.T) {
		dsn := newDatabase(t, s)
		usersContract(t, func(t *testing.T) state.UserSource { return openUsers(t, openDB(t, dsn).Pool()) })
	})
	t.Run("unreadable", func(t *testing.T) { unreadableFailsClosed(t, newDatabase(t, s)) })
	t.Run("by hand", func(t *testing.T) { rowsWrittenByHand(t, newDatabase(t, s)) })
	t.Run("concurrent", func(t *testing.T) { concurrentAddsOfOneName(t, newDatabase(t, s)) })
}

func usersContract(t *testing.T, open func(t *testing.T) state.UserSource) {
	a, b := newUsers(t, open(t), nil), newUsers(t, open(t), nil)
	for _, err := range []error{a.Add("alice", "secret"), a.Add(`CORP\Bob`, "bob secret")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if names, err := a.List(); err != nil || !slices.Equal(names, []string{"alice", "bob"}) {
		t.Fatalf("List = %v, %v", names, err)
	}
	if !a.Verify(`CORP\alice`, "secret") || a.Verify("alice", "Secret") || a.Verify("nobody", "secret") {
		t.Fatal("Verify does not tell alice's password from others")
	}
	seen(t, "the second Users sees bob added", func() bool { return b.Verify("bob@corp.example", "bob secret") })
	if err := b.Add("bob@partner.example", "other"); err == nil || !strings.Contains(err.Error(), "user bob already exists") {
		t.Errorf("a name with another domain over bob: %v, want a refusal", err)
	}

	if err := b.Remove("bob"); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove("bob"); err == nil || !strings.Contains(err.Error(), "no user bob") {
		t.Errorf("removing bob twice: %v", err)
	}
	// List looks at the source; Has answers a known user from the last look.
	seen(t, "the first Users sees bob removed", func() bool {
		names, err := a.List()
		return err == nil && !slices.Contains(names, "bob")
	})
	if a.Verify("bob", "bob secret") {
		t.Error("removed bob logs in (from the verified cache?)")
	}

	if err := b.Add("alice", "new secret"); err != nil {
		t.Fatal(err)
	}
	seen(t, "the first Users sees alice's new password", func() bool { return a.Verify("alice", "new secret") })
	if a.Verify("alice", "secret") {
		t.Error("alice's old password still logs in")
	}
}

// A database that can no longer be read vouches for nobody: its users are
// refused (not kept from the last read) and the failure is logged at error
// level; once it can be read again they log in again.
func unreadableFailsClosed(t *testing.T, dsn string) {
	var logs testtool.Buffer
	u := newUsers(t, openUsers(t, openDB(t, dsn).Pool()), &logs)
	if err := u.Add("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	if !u.Verify("alice", "secret") {
		t.Fatal("alice refused")
	}
	exec(t, dsn, "ALTER TABLE pushca_push_users_version RENAME TO pushca_push_users_version_away")
	seen(t, "alice refused while the users cannot be read", func() bool { return !u.Verify("alice", "secret") })
	if _, err := u.List(); err == nil {
		t.Error("List has no error while the users cannot be read")
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "users changed but cannot all be read") || !strings.Contains(l, "users_kept=0") {
		t.Errorf("the failure was not logged at error level:\n%s", l)
	}
	exec(t, dsn, "ALTER TABLE pushca_push_users_version_away RENAME TO pushca_push_users_version")
	seen(t, "alice logs in once the users can be read again", func() bool { return u.Verify("alice", "secret") })
}

// Rows written by hand reach the servers too (the trigger counts every
// write), but a row that cannot be a user's — a name not in normal form, a
// hash that is not bcrypt's — lets nobody in and is reported.
func rowsWrittenByHand(t *testing.T, dsn string) {
	u := newUsers(t, openUsers(t, openDB(t, dsn).Pool()), nil)
	carol, err := bcrypt.GenerateFromPassword([]byte("carol secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, dsn, "INSERT INTO pushca_push_users (name, hash) VALUES ('carol', $1), ('Dave', $1), ('erin', 'plain text')", string(carol))
	seen(t, "carol, added by hand, logs in", func() bool { return u.Verify("carol", "carol secret") })
	if u.Verify("dave", "carol secret") || u.Verify("Dave", "carol secret") || u.Verify("erin", "plain text") {
		t.Error("a row that cannot be a user's logs in")
	}
	if _, err := u.List(); err == nil || !strings.Contains(err.Error(), `"Dave"`) || !strings.Contains(err.Error(), "erin") {
		t.Errorf("List: %v, want an error naming Dave and erin", err)
	}
}

// Two hosts adding one name with different domains at once: the edits run
// one after the other, so exactly one finds the name free.
func concurrentAddsOfOneName(t *testing.T, dsn string) {
	a, b := newUsers(t, openUsers(t, openDB(t, dsn).Pool()), nil), newUsers(t, openUsers(t, openDB(t, dsn).Pool()), nil)
	for round := range 5 {
		errs := make(chan error, 2)
		go func() { errs <- a.Add("jdoe@corp.example", "corp") }()
		go func() { errs <- b.Add(`PARTNER\jdoe`, "partner") }()
		ok := 0
		for range 2 {
			if err := <-errs; err == nil {
				ok++
			} else if !strings.Contains(err.Error(), "already exists") {
				t.Fatal(err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d adds of jdoe succeeded, want 1", round, ok)
		}
		if err := a.Remove("jdoe"); err != nil {
			t.Fatal(err)
		}
	}
}

// openUsers is the users' table on pool.
func openUsers(t *testing.T, pool *pgxpool.Pool) state.UserSource {
	t.Helper()
	src, err := pgstate.OpenUsers(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// newUsers verifies against src at bcrypt's cheapest cost, logging to the
// test and to logs when given.
func newUsers(t *testing.T, src state.UserSource, logs io.Writer) *push.Users {
	t.Helper()
	w := io.Writer(t.Output())
	if logs != nil {
		w = io.MultiWriter(w, logs)
	}
	u, err := push.NewUsers(src, bcrypt.MinCost, slog.New(slog.NewTextHandler(w, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// seen waits, bounded, for cond: an edit reaches another Users at its next
// look, UsersFileCheck apart.
func seen(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * push.UsersFileCheck)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not so within %v: %s", 5*push.UsersFileCheck, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exec runs one statement on dsn, as an operator at psql would.
func exec(t *testing.T, dsn, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
