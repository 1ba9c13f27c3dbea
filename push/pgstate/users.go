package pgstate

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// usersSchema keeps the users beside a change counter that a trigger bumps
// on every write to the table, made by pushca or by hand: each server reads
// the counter, one row, where a users file is stat'ed, and reads the users
// again only when it moved. The trigger is dropped and made again rather
// than replaced: CREATE OR REPLACE TRIGGER needs PostgreSQL 14, and the
// schema lock's transaction makes the pair atomic.
const usersSchema = `
CREATE TABLE IF NOT EXISTS pushca_push_users (
	name text PRIMARY KEY,
	hash text NOT NULL
);
CREATE TABLE IF NOT EXISTS pushca_push_users_version (
	single  boolean PRIMARY KEY DEFAULT true CHECK (single),
	changes bigint NOT NULL
);
INSERT INTO pushca_push_users_version (single, changes) VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION pushca_push_users_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE pushca_push_users_version SET changes = changes + 1;
	RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS pushca_push_users_changed ON pushca_push_users;
CREATE TRIGGER pushca_push_users_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pushca_push_users
	FOR EACH STATEMENT EXECUTE FUNCTION pushca_push_users_changed();
`

// Users is the push endpoint's users in the table pushca_push_users, which
// every server on the database shares: a state.UserSource. An edit made on
// any host reaches each server at its next look (once a second at most,
// on a login) through the change counter, one indexed row, rather than
// through LISTEN: the look happens anyway, a lost notification could not
// be told from no change, and no connection is held for it.
type Users struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	looked  bool
	changes int64
}

// OpenUsers makes the users' tables when missing and returns them.
func OpenUsers(ctx context.Context, pool *pgxpool.Pool) (*Users, error) {
	if err := runDDL(ctx, pool, usersSchema); err != nil {
		return nil, fmt.Errorf("prepare the table pushca_push_users: %w", err)
	}
	return &Users{pool: pool}, nil
}

func (u *Users) String() string { return "PostgreSQL table pushca_push_users" }

// Changed reads the change counter.
func (u *Users) Changed(ctx context.Context) (bool, error) {
	var n int64
	if err := u.pool.QueryRow(ctx, "SELECT changes FROM pushca_push_users_version").Scan(&n); err != nil {
		return false, fmt.Errorf("read the users' change counter: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	changed := !u.looked || n != u.changes
	u.looked, u.changes = true, n
	return changed, nil
}

// Read returns every row. A database that cannot be read vouches for
// nobody, so last is not needed.
func (u *Users) Read(ctx context.Context, _ map[string][]byte) (map[string][]byte, error) {
	rows, _ := u.pool.Query(ctx, "SELECT name, hash FROM pushca_push_users")
	out := map[string][]byte{}
	var name, hash string
	if _, err := pgx.ForEachRow(rows, []any{&name, &hash}, func() error {
		out[name] = []byte(hash)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the users: %w", err)
	}
	return out, nil
}

// Edit changes name in one transaction. It first locks the counter's row,
// so that edits from every host run one after the other, each seeing the
// last: two `pushca users add` of one name with different domains cannot
// both find it free.
func (u *Users) Edit(ctx context.Context, name string, fn func([]byte) ([]byte, error)) error {
	return pgx.BeginFunc(ctx, u.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT changes FROM pushca_push_users_version FOR UPDATE"); err != nil {
			return fmt.Errorf("lock the users: %w", err)
		}
		var current []byte
		var hash string
		switch err := tx.QueryRow(ctx, "SELECT hash FROM pushca_push_users WHERE name = $1", name).Scan(&hash); {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read user %s: %w", name, err)
		default:
			current = []byte(hash)
		}
		next, err := fn(current)
		if err != nil {
			return err
		}
		switch {
		case next != nil:
			_, err = tx.Exec(ctx, "INSERT INTO pushca_push_users (name, hash) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET hash = EXCLUDED.hash", name, string(next))
		case current != nil:
			_, err = tx.Exec(ctx, "DELETE FROM pushca_push_users WHERE name = $1", name)
		}
		if err != nil {
			return fmt.Errorf("save user %s: %w", name, err)
		}
		return nil
	})
}
