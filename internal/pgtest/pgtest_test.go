package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The server answers SQL on its DSN, as an unprivileged user, and two
// databases on it are separate.
func TestStart(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.CreateDB(t, "one"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var super bool
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&db, &super); err != nil {
		t.Fatal(err)
	}
	if db != "one" || !super {
		t.Errorf("connected to %q as superuser=%v, want one as superuser", db, super)
	}
	var addr string
	if err := conn.QueryRow(ctx, "SELECT host(inet_server_addr())").Scan(&addr); err != nil || addr != "127.0.0.1" {
		t.Errorf("server address %q, %v: want loopback", addr, err)
	}
}
