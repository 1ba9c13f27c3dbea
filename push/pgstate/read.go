package pgstate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pushca/pushca/push/state"
)

// ReadDevices lists the device records stored in the PostgreSQL database
// dsn, for a command that only looks (cert plan): one connection, no
// tables made, no listener, no write. A database where no endpoint ever
// ran has no records. Notes a running endpoint has not written yet (up to
// state.MaxNoteDelay of Ping history) are not seen.
func ReadDevices(ctx context.Context, dsn string) ([]state.Device, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts a password in its parse errors.
		return nil, fmt.Errorf("push state database: %w", err)
	}
	cfg.RuntimeParams["application_name"] = applicationName + "-read"
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read the device records on PostgreSQL at %s: %w", addr, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT record FROM pushca_push_devices ORDER BY user_name COLLATE "C", id COLLATE "C"`)
	if err != nil {
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "42P01" {
			return nil, nil // undefined_table: no endpoint has run on the database
		}
		return nil, fmt.Errorf("read the device records on PostgreSQL at %s: %w", addr, err)
	}
	devs, err := pgx.CollectRows(rows, pgx.RowTo[state.Device])
	if err != nil {
		return nil, fmt.Errorf("read the device records on PostgreSQL at %s: %w", addr, err)
	}
	return devs, nil
}
