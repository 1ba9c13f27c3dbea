package pgstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pushca/pushca/push/state"
)

// applicationName is what the pool's connections show in
// pg_stat_activity; the listener's adds the instance.
const applicationName = "pushca-push"

// DB is one endpoint's connection to the shared state: a pool for the
// reads and writes, and one connection listening for the other endpoints'
// changes.
type DB struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	// instance tells this endpoint's notifications from the others', so
	// the listener drops their echo: they were raised here already.
	instance string
	// addr is host:port, what errors name.
	addr string

	feed    state.Fanout
	devices *devices

	stop      context.CancelFunc
	listening sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open connects to the PostgreSQL database dsn (a URL without a password:
// pgx reads ~/.pgpass, PGPASSFILE or PGPASSWORD), makes the tables that are
// missing, and starts listening for the other endpoints' changes before
// it returns, so that no change made after Open is missed.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*DB, error) {
	return open(ctx, dsn, log, hooks{})
}

// hooks are what tests watch or hold an endpoint by.
type hooks struct {
	// dial, when set, wraps how the listener connects.
	dial func(context.Context, dialFunc) (*pgx.Conn, error)
	// tracer, when set, sees every statement of the pool.
	tracer pgx.QueryTracer
}

// open is Open with hooks.
func open(ctx context.Context, dsn string, log *slog.Logger, h hooks) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts a password in its parse errors.
		return nil, fmt.Errorf("push state database: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	cfg.ConnConfig.Tracer = h.tracer
	id := make([]byte, 8)
	rand.Read(id)
	db := &DB{
		log: log, instance: hex.EncodeToString(id),
		addr: net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))),
	}
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, db.wrap("connect", err)
	}
	if err := createSchema(ctx, db.pool); err != nil {
		db.pool.Close()
		return nil, db.wrap("prepare the push tables", err)
	}
	l := &listener{db: db, config: cfg.ConnConfig.Copy(), dial: h.dial}
	l.config.Tracer = nil
	l.config.RuntimeParams["application_name"] = l.name()
	conn, err := l.connect(ctx)
	if err != nil {
		db.pool.Close()
		return nil, db.wrap("listen for other endpoints' changes", err)
	}
	db.devices = newDevices(db)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	db.stop = stop
	db.listening.Go(func() { l.run(runCtx, conn) })
	return db, nil
}

// wrap names the server, never the DSN, which may say more than it should.
func (db *DB) wrap(what string, err error) error {
	return fmt.Errorf("%s on PostgreSQL at %s: %w", what, db.addr, err)
}

// Store returns the mailbox and its change feed.
func (db *DB) Store() state.Store { return (*mailbox)(db) }

// Devices returns the device records.
func (db *DB) Devices() state.Devices { return db.devices }

// Pool is the connection pool, for the other tables of the push endpoint.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close stops the listener, writes the device notes still pending and
// closes the pool.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.stop()
		db.listening.Wait()
		db.closeErr = db.devices.close()
		db.pool.Close()
	})
	return db.closeErr
}
