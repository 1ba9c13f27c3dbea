package pgstate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/push/pgstate"
	"github.com/pushca/pushca/push/state"
)

// ReadDevices sees what an endpoint wrote, and on a database no endpoint
// used it finds no records and makes no table.
func TestReadDevices(t *testing.T) {
	s := pgtest.Start(t)
	ctx := context.Background()

	fresh := newDatabase(t, s)
	devs, err := pgstate.ReadDevices(ctx, fresh)
	if err != nil || len(devs) != 0 {
		t.Fatalf("fresh database: %v %v, want no records", devs, err)
	}
	conn, err := pgx.Connect(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'pushca_push_%'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("ReadDevices made %d tables; it must only look", tables)
	}

	dsn := newDatabase(t, s)
	db := openDB(t, dsn)
	for _, id := range []string{"D2", "D1"} {
		if _, err := db.Devices().Update(ctx, "alice", id, func(d *state.Device) { d.Type = "iPhone" }); err != nil {
			t.Fatal(err)
		}
	}
	devs, err = pgstate.ReadDevices(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 || devs[0].ID != "D1" || devs[1].ID != "D2" || devs[0].User != "alice" || devs[0].Type != "iPhone" {
		t.Fatalf("records: %+v, want alice's D1 and D2, iPhones", devs)
	}
}

// A server that is not there is an error naming it, never an empty list.
func TestReadDevicesUnreachable(t *testing.T) {
	dsn := "postgresql://pushca@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"
	devs, err := pgstate.ReadDevices(context.Background(), dsn)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("ReadDevices on a closed port: %v %v, want an error naming 127.0.0.1:1", devs, err)
	}
}
