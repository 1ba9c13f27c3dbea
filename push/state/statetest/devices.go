package statetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pushca/pushca/push/state"
)

// Devices runs the contract of state.Devices against stores open makes,
// each fresh and empty; the test closes them.
func Devices(t *testing.T, open func(t *testing.T) state.Devices) {
	t.Run("missing", func(t *testing.T) { devicesMissing(t, open(t)) })
	t.Run("update", func(t *testing.T) { devicesUpdate(t, open(t)) })
	t.Run("note", func(t *testing.T) { devicesNote(t, open(t)) })
	t.Run("ping records", func(t *testing.T) { devicesPings(t, open(t)) })
	t.Run("list", func(t *testing.T) { devicesList(t, open(t)) })
}

func devicesMissing(t *testing.T, d state.Devices) {
	if dev, ok, err := d.Get(context.Background(), "alice", "D1"); ok || err != nil {
		t.Fatalf("Get of no record: %+v %v", dev, err)
	}
	dev, err := d.Peek(context.Background(), "alice", "D1")
	if err != nil || dev == nil || dev.PolicyKey != 0 || len(dev.Sync) != 0 {
		t.Fatalf("Peek of no record: %+v %v, want an empty one", dev, err)
	}
	if devs, err := d.List(context.Background()); len(devs) != 0 || err != nil {
		t.Fatalf("List of an empty store: %+v %v", devs, err)
	}
}

// Update makes a record stamped with its user, id and times, and hands
// out copies: changing one changes nothing stored.
func devicesUpdate(t *testing.T, d state.Devices) {
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	got, err := d.Update(ctx, "alice", "D1", func(dev *state.Device) {
		dev.PolicyKey = 7
		dev.Sync = map[string]state.SyncState{"1": {Key: "2", Seq: 3}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "alice" || got.ID != "D1" || got.PolicyKey != 7 || got.FirstSeen.Before(before) || got.LastSeen.Before(got.FirstSeen) {
		t.Fatalf("new record: %+v", got)
	}
	got.Sync["1"] = state.SyncState{Key: "changed"}
	again, err := d.Update(ctx, "alice", "D1", func(dev *state.Device) { dev.FolderSyncKey = "1" })
	if err != nil {
		t.Fatal(err)
	}
	if again.Sync["1"].Key != "2" || again.PolicyKey != 7 || !again.FirstSeen.Equal(got.FirstSeen) {
		t.Fatalf("second Update: %+v", again)
	}
	peeked, err := d.Peek(ctx, "alice", "D1")
	if err != nil || peeked.FolderSyncKey != "1" || peeked.Sync["1"].Seq != 3 {
		t.Fatalf("Peek after Update: %+v %v", peeked, err)
	}
	if dev, ok, err := d.Get(ctx, "alice", "D1"); !ok || err != nil || dev.FolderSyncKey != "1" {
		t.Fatalf("Get after Update: %+v %v %v", dev, ok, err)
	}
}

func devicesNote(t *testing.T, d state.Devices) {
	ctx := context.Background()
	if _, err := d.Update(ctx, "alice", "D1", func(dev *state.Device) { dev.PolicyKey = 7 }); err != nil {
		t.Fatal(err)
	}
	got, err := d.Note(ctx, "alice", "D1", func(dev *state.Device) { dev.UserAgent = "ua" })
	if err != nil || got.UserAgent != "ua" || got.PolicyKey != 7 {
		t.Fatalf("Note returned %+v %v", got, err)
	}
	if dev, _, err := d.Get(ctx, "alice", "D1"); err != nil || dev.UserAgent != "ua" || dev.PolicyKey != 7 {
		t.Fatalf("Get after Note: %+v %v", dev, err)
	}
	if got, err := d.Note(ctx, "bob", "D2", func(dev *state.Device) { dev.Type = "iPhone" }); err != nil || got.User != "bob" || got.ID != "D2" {
		t.Fatalf("Note of a new record: %+v %v", got, err)
	}
	// Written behind, a noted record is there to read at once.
	if dev, ok, err := d.Get(ctx, "bob", "D2"); !ok || err != nil || dev.Type != "iPhone" {
		t.Fatalf("Get of a noted record: %+v %v %v", dev, ok, err)
	}
}

// The Ping cache makes a record; the Ping history only adds to one.
func devicesPings(t *testing.T, d state.Devices) {
	ctx := context.Background()
	d.NotePing("alice", "D1", 900, []string{"1", "6"})
	dev, err := d.Peek(ctx, "alice", "D1")
	if err != nil || dev.Heartbeat != 900 || !slices.Equal(dev.Folders, []string{"1", "6"}) {
		t.Fatalf("after NotePing: %+v %v", dev, err)
	}
	d.LogPing("alice", "D1", state.PingLog{Heartbeat: 900, Outcome: "expired", Held: 900})
	d.LogPing("alice", "D1", state.PingLog{Heartbeat: 900, Outcome: "changes", Held: 3})
	got, _, _ := d.Get(ctx, "alice", "D1")
	if len(got.Pings) != 2 || got.Pings[0].Outcome != "expired" || got.Pings[1].Held != 3 || got.Heartbeat != 900 {
		t.Fatalf("history: %+v", got)
	}
	d.LogPing("alice", "GONE", state.PingLog{Heartbeat: 60})
	if dev, ok, _ := d.Get(ctx, "alice", "GONE"); ok {
		t.Fatalf("LogPing made a record: %+v", dev)
	}
}

func devicesList(t *testing.T, d state.Devices) {
	ctx := context.Background()
	for _, k := range [][2]string{{"bob", "A"}, {"alice", "B"}, {"ab", "Z"}, {"alice", "A"}} {
		if _, err := d.Update(ctx, k[0], k[1], func(*state.Device) {}); err != nil {
			t.Fatal(err)
		}
	}
	devs, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, dev := range devs {
		got = append(got, dev.User+"/"+dev.ID)
	}
	if want := []string{"ab/Z", "alice/A", "alice/B", "bob/A"}; !slices.Equal(got, want) {
		t.Fatalf("List: %v, want %v", got, want)
	}
}
