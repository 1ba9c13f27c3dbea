package pgstate

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Every table and sequence is prefixed pushca_push_: the CA's tables
// (step-ca's nosql ones and pushca's inventory) may share the database.
const schema = `
CREATE TABLE IF NOT EXISTS pushca_push_folders (
	user_name text NOT NULL,
	folder    text NOT NULL,
	seq       bigint NOT NULL,
	PRIMARY KEY (user_name, folder)
);
CREATE SEQUENCE IF NOT EXISTS pushca_push_message_ids;
CREATE TABLE IF NOT EXISTS pushca_push_messages (
	user_name text NOT NULL,
	folder    text NOT NULL,
	seq       bigint NOT NULL,
	id        text NOT NULL UNIQUE,
	sender    text NOT NULL,
	recipient text NOT NULL,
	subject   text NOT NULL,
	body      text NOT NULL,
	received  timestamptz NOT NULL,
	PRIMARY KEY (user_name, folder, seq)
);
CREATE TABLE IF NOT EXISTS pushca_push_devices (
	user_name text NOT NULL,
	id        text NOT NULL,
	record    jsonb NOT NULL,
	last_seen timestamptz NOT NULL,
	PRIMARY KEY (user_name, id)
);
`

// schemaLock names the advisory lock held while tables are made: CREATE
// ... IF NOT EXISTS is not safe against itself, so two instances starting
// at once would otherwise race on the catalog.
const schemaLock = "pushca push schema"

// createSchema makes the mailbox's and the devices' tables that are
// missing.
func createSchema(ctx context.Context, pool *pgxpool.Pool) error {
	return runDDL(ctx, pool, schema)
}

// runDDL runs ddl, statements that make what is missing, under
// schemaLock.
func runDDL(ctx context.Context, pool *pgxpool.Pool, ddl string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		h := fnv.New64a()
		h.Write([]byte(schemaLock))
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64())); err != nil {
			return fmt.Errorf("lock the schema: %w", err)
		}
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return fmt.Errorf("create the tables: %w", err)
		}
		return nil
	})
}
