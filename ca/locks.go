package ca

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// locks serialise the operations on one host (check for an active
// certificate, sign, record, switch the link) while other hosts proceed.
// In one process a mutex per host does; on PostgreSQL, where processes of
// several operators share the database, each operation also holds an
// advisory lock of the host in the database for as long as it runs, and
// reads what it decides on from the database under it.
type locks struct {
	mu sync.Mutex
	m  map[string]*hostLock
	// pg holds the connections the advisory locks are taken on; nil on
	// bbolt, whose file lock already makes the process the only writer.
	pg *pgxpool.Pool
	// noAdvisory leaves the advisory locks out, for the test that shows
	// what they prevent; never set in production.
	noAdvisory bool
}

type hostLock struct {
	sync.Mutex
	users int // holders and waiters; the entry goes when it drops to 0
}

// host takes host's lock and returns its release.
func (h *locks) host(ctx context.Context, host string) (unlock func(), err error) {
	h.mu.Lock()
	if h.m == nil {
		h.m = map[string]*hostLock{}
	}
	l := h.m[host]
	if l == nil {
		l = &hostLock{}
		h.m[host] = l
	}
	l.users++
	h.mu.Unlock()
	l.Lock()
	release := func() {
		l.Unlock()
		h.mu.Lock()
		if l.users--; l.users == 0 {
			delete(h.m, host)
		}
		h.mu.Unlock()
	}
	// In-process first: a process's own operations on a host wait here,
	// holding no database connection.
	unlockDB, err := h.advisory(ctx, "pushca host "+host)
	if err != nil {
		release()
		return nil, fmt.Errorf("lock %s in the database: %w", host, err)
	}
	return func() { unlockDB(); release() }, nil
}

// advisory takes the database's advisory lock named name, held by a
// transaction on a connection of its own until the release: a process
// that dies lets go of it with its connection. A no-op on bbolt.
func (h *locks) advisory(ctx context.Context, name string) (unlock func(), err error) {
	if h.pg == nil || h.noAdvisory {
		return func() {}, nil
	}
	conn, err := h.pg.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		conn.Release()
		return nil, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(name)); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		conn.Release()
		return nil, err
	}
	return func() {
		// Ending the transaction releases the lock; if that fails the
		// connection is closed, which releases it too.
		if tx.Rollback(context.WithoutCancel(ctx)) != nil {
			conn.Hijack().Close(context.WithoutCancel(ctx))
			return
		}
		conn.Release()
	}, nil
}

// lockKey is the advisory lock's key of name: a stable 64-bit hash, the
// same in every process and every pushca version that uses it.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// crlLockName is the advisory lock of every CRL writer, the root's too:
// two processes must never give two lists one number, and a list must
// never be made from an older view than the one before it.
const crlLockName = "pushca crl"

// lockCRL takes the CRL writers' lock, in process and in the database.
func (c *CA) lockCRL(ctx context.Context) (unlock func(), err error) {
	c.crlMu.Lock()
	unlockDB, err := c.locks.advisory(ctx, crlLockName)
	if err != nil {
		c.crlMu.Unlock()
		return nil, fmt.Errorf("lock the CRLs in the database: %w", err)
	}
	return func() { unlockDB(); c.crlMu.Unlock() }, nil
}
