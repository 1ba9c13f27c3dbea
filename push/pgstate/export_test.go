package pgstate

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"
)

// OpenDialing is Open with dial wrapping every connect of the listener,
// the first (in Open) included.
func OpenDialing(ctx context.Context, dsn string, log *slog.Logger, dial func(context.Context, func(context.Context) (*pgx.Conn, error)) (*pgx.Conn, error)) (*DB, error) {
	return open(ctx, dsn, log, hooks{dial: func(ctx context.Context, next dialFunc) (*pgx.Conn, error) { return dial(ctx, next) }})
}

// OpenTraced is Open with tracer seeing every statement of the pool.
func OpenTraced(ctx context.Context, dsn string, log *slog.Logger, tracer pgx.QueryTracer) (*DB, error) {
	return open(ctx, dsn, log, hooks{tracer: tracer})
}

// ListenerName is the application_name of db's listening connection.
func ListenerName(db *DB) string { return (&listener{db: db}).name() }
