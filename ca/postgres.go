package ca

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/smallstep/nosql"
	"github.com/smallstep/nosql/database"
)

// PostgreSQL holds a CA's tables the way smallstep/nosql's driver makes
// them, one table per bucket with columns nkey and nvalue, so that step-ca
// on config/ca.json reads and writes the same rows. Data goes through that
// driver; what it cannot do (a read of every table in one snapshot, and
// advisory locks, see locks.go) goes through pgx directly.

// openPG opens a PostgreSQL database through nosql's driver, for reading
// only when readOnly is set: the server then refuses every write, so a
// Reader cannot change the CA whatever a bug asks of it.
func openPG(dsn string, readOnly bool) (nosql.DB, error) {
	params := map[string]string{"connect_timeout": connectTimeout}
	if readOnly {
		params["default_transaction_read_only"] = "on"
	}
	d, err := nosql.New(nosql.PostgreSQLDriver, withParams(dsn, params))
	if err != nil {
		return nil, pgOpenError(dsn, err)
	}
	return pgDB{d}, nil
}

// pgOpenError says what failed when a PostgreSQL database would not open:
// the server at its address, or the database.
func pgOpenError(dsn string, err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return errUnreachable(dsn, err)
	}
	return fmt.Errorf("open database %s: %w", redactDSN(dsn), err)
}

// pgDB is nosql's PostgreSQL driver with a missing table read as an empty
// one, as the bbolt driver reads a missing bucket: the inventory's tables
// are made by the first signing open, and a Reader may come first.
type pgDB struct{ nosql.DB }

func (d pgDB) Get(bucket, key []byte) ([]byte, error) {
	v, err := d.DB.Get(bucket, key)
	if missingTable(err) {
		return nil, database.ErrNotFound
	}
	return v, err
}

// missingTable reports PostgreSQL's "relation does not exist".
func missingTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

// connectPG opens one pgx connection to dsn.
func connectPG(ctx context.Context, dsn string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, withParams(dsn, map[string]string{"connect_timeout": connectTimeout}))
	if err != nil {
		return nil, pgOpenError(dsn, err)
	}
	return conn, nil
}

// CheckInitDB says whether a new CA may keep its tables in the PostgreSQL
// database dsn: the server answers, and the database holds no CA's tables
// yet (one that does not exist yet is created by the CA's first open). The
// CLI calls it before it asks for a password.
func CheckInitDB(ctx context.Context, dsn string) error {
	conn, err := connectPG(ctx, dsn)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "3D000" {
		return nil
	}
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	held, err := heldTables(ctx, conn)
	if err != nil {
		return fmt.Errorf("look at database %s: %w", redactDSN(dsn), err)
	}
	if len(held) > 0 {
		return fmt.Errorf("database %s already holds a CA's tables (%s): a second operator copies the first one's state directory instead of running init; otherwise name a new database", redactDSN(dsn), strings.Join(held, ", "))
	}
	return nil
}

// nosqlTables lists the tables of the current schema made the way nosql
// makes them (nkey and nvalue, nothing else): step-ca's and pushca's, and
// not the tables of anything else sharing the database.
func nosqlTables(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT table_name FROM information_schema.columns
		WHERE table_schema = current_schema()
		GROUP BY table_name
		HAVING array_agg(column_name::text ORDER BY column_name) = ARRAY['nkey', 'nvalue']
		ORDER BY table_name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// dump is every table of a database as one read saw it: by table, its
// rows in key order.
type dump map[string][]*database.Entry

// tables are the dump's tables in name order.
func (s dump) tables() []string {
	out := make([]string, 0, len(s))
	for t := range s {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// counts are the rows of each table, for reports and checks.
func (s dump) counts() map[string]int {
	out := make(map[string]int, len(s))
	for t, es := range s {
		out[t] = len(es)
	}
	return out
}

// dumpPG reads every nosql table of a PostgreSQL database in one REPEATABLE
// READ, READ ONLY transaction: one consistent state, whatever the other
// operators write meanwhile.
func dumpPG(ctx context.Context, dsn string) (dump, error) {
	conn, err := connectPG(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("read database %s: %w", redactDSN(dsn), err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	names, err := nosqlTables(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", redactDSN(dsn), err)
	}
	snap := dump{}
	for _, t := range names {
		rows, err := tx.Query(ctx, "SELECT nkey, nvalue FROM "+pgx.Identifier{t}.Sanitize()+" ORDER BY nkey")
		if err != nil {
			return nil, fmt.Errorf("read table %s of %s: %w", t, redactDSN(dsn), err)
		}
		es, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*database.Entry, error) {
			e := &database.Entry{Bucket: []byte(t)}
			return e, row.Scan(&e.Key, &e.Value)
		})
		if err != nil {
			return nil, fmt.Errorf("read table %s of %s: %w", t, redactDSN(dsn), err)
		}
		snap[t] = es
	}
	return snap, nil
}

// heldTables lists the nosql tables that hold rows, with their counts: a
// database where a new CA, or a migrated one, would mix with another.
func heldTables(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	have, err := nosqlTables(ctx, conn)
	if err != nil {
		return nil, err
	}
	var held []string
	for _, t := range have {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			held = append(held, fmt.Sprintf("%s (%d rows)", t, n))
		}
	}
	return held, nil
}

// loadPG copies snap into dsn in one transaction, replacing the rows of
// the tables it holds, and checks each table's row count before it
// commits. Unless force is set, a database that already holds rows in any
// CA table is refused, untouched.
func loadPG(ctx context.Context, dsn string, snap dump, force bool) error {
	// nosql's driver creates a database that does not exist yet.
	d, err := openPG(dsn, false)
	if err != nil {
		return err
	}
	d.Close()
	conn, err := connectPG(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if !force {
		held, err := heldTables(ctx, conn)
		if err != nil {
			return fmt.Errorf("look at database %s: %w", redactDSN(dsn), err)
		}
		if len(held) > 0 {
			return fmt.Errorf("database %s already holds a CA's tables (%s): name an empty database, or give --force to replace those tables' rows", redactDSN(dsn), strings.Join(held, ", "))
		}
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, t := range snap.tables() {
			id := pgx.Identifier{t}.Sanitize()
			// nosql's own table definition, so that its driver and step-ca
			// find what they made themselves.
			if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+id+" (nkey BYTEA CHECK (octet_length(nkey) <= 255), nvalue BYTEA, PRIMARY KEY (nkey))"); err != nil {
				return fmt.Errorf("create table %s: %w", t, err)
			}
			if _, err := tx.Exec(ctx, "DELETE FROM "+id); err != nil {
				return fmt.Errorf("empty table %s: %w", t, err)
			}
			rows := make([][]any, len(snap[t]))
			for i, e := range snap[t] {
				rows[i] = []any{e.Key, e.Value}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t}, []string{"nkey", "nvalue"}, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("copy table %s: %w", t, err)
			}
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+id).Scan(&n); err != nil {
				return fmt.Errorf("count table %s: %w", t, err)
			}
			if n != len(snap[t]) {
				return fmt.Errorf("table %s holds %d rows after the copy, want %d", t, n, len(snap[t]))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy into database %s: %w", redactDSN(dsn), err)
	}
	return nil
}
