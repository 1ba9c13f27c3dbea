package ping

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/state"
)

func newTestHub(t testing.TB, bounds HeartbeatBounds) *Hub {
	t.Helper()
	h, _ := newTestHubDevices(t, bounds)
	return h
}

// newTestHubDevices returns a hub on an in-memory mailbox, and its device
// records.
func newTestHubDevices(t testing.TB, bounds HeartbeatBounds) (*Hub, *state.BoltDevices) {
	t.Helper()
	d := openTestDevices(t)
	h, err := NewHub(d, state.NewMemory(), bounds, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	return h, d
}

func openTestDevices(t testing.TB) *state.BoltDevices {
	t.Helper()
	d, err := state.OpenBoltDevices(filepath.Join(t.TempDir(), "devices.db"), testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// ping is Hub.Ping returning its answer, for tests that do not care when
// the device record is written.
// ping holds a Ping until it is answered, or cuts it when ctx ends, as the
// handler does when the connection goes away.
func ping(h *Hub, ctx context.Context, user, device string, req Request) Result {
	var res Result
	held := h.Hold(ctx, user, device, req, func(r Result) { res = r })
	select {
	case <-held.Done():
	case <-ctx.Done():
		held.Cut()
		<-held.Done()
	}
	return res
}

// startPing parks a Ping in a goroutine and waits until the hub holds it,
// so the test knows it did not answer early.
func startPing(t *testing.T, ctx context.Context, h *Hub, user, device string, req Request) <-chan Result {
	t.Helper()
	before := h.heldBy(user, device)
	c := make(chan Result, 1)
	go func() {
		c <- ping(h, ctx, user, device, req)
	}()
	testtool.WaitFor(t, func() bool {
		p := h.heldBy(user, device)
		return p != nil && p != before
	})
	return c
}

func (h *Hub) heldBy(user, device string) *heldPing {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held[deviceKey(user, device)]
}

func recv(t *testing.T, c <-chan Result) Result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("Ping did not return")
	}
	return Result{}
}

func notYet(t *testing.T, c <-chan Result) {
	t.Helper()
	select {
	case r := <-c:
		t.Fatalf("Ping returned early: %+v", r)
	default:
	}
}

var longPing = Request{Heartbeat: 3000, Folders: []string{InboxID}}

func TestNewerPingEndsOlder(t *testing.T) {
	h := newTestHub(t, HeartbeatBounds{1, 3540})
	ctx := context.Background()
	first := startPing(t, ctx, h, "alice", "dev1", longPing)
	other := startPing(t, ctx, h, "alice", "dev2", longPing)
	second := startPing(t, ctx, h, "alice", "dev1", longPing)
	if r := recv(t, first); r.Status != eas.PingExpired || r.Outcome != Superseded {
		t.Fatalf("older Ping: %+v, want Status 1 superseded", r)
	}
	notYet(t, second)
	notYet(t, other)
	h.Close()
	for _, c := range []<-chan Result{second, other} {
		if r := recv(t, c); r.Status != eas.PingExpired || r.Outcome != Shutdown {
			t.Fatalf("on close: %+v, want Status 1 shutdown", r)
		}
	}
}

func TestDeliveryWakesEveryInboxPing(t *testing.T) {
	h := newTestHub(t, HeartbeatBounds{1, 3540})
	ctx := context.Background()
	a := startPing(t, ctx, h, "alice", "dev1", longPing)
	b := startPing(t, ctx, h, "alice", "dev2", Request{Heartbeat: 3000, Folders: []string{"6", InboxID}})
	cal := startPing(t, ctx, h, "alice", "dev3", Request{Heartbeat: 3000, Folders: []string{"6"}})
	bob := startPing(t, ctx, h, "bob", "dev4", longPing)
	notYet(t, a)

	if _, woken, err := h.Deliver(ctx, "alice", state.Message{Subject: "hi"}); err != nil || woken != 2 {
		t.Fatalf("woken = %d, %v; want 2", woken, err)
	}
	for _, c := range []<-chan Result{a, b} {
		r := recv(t, c)
		if r.Status != eas.PingChanges || !slices.Equal(r.Folders, []string{InboxID}) {
			t.Fatalf("got %+v, want Status 2 for the Inbox", r)
		}
	}
	notYet(t, cal)
	notYet(t, bob)
	h.Close()
	recv(t, cal)
	recv(t, bob)
}

func TestPendingChangesAnswerAtOnce(t *testing.T) {
	h := newTestHub(t, HeartbeatBounds{1, 3540})
	if _, _, err := h.Deliver(context.Background(), "alice", state.Message{Subject: "before the Ping"}); err != nil {
		t.Fatal(err)
	}
	if r := ping(h, context.Background(), "alice", "dev1", longPing); r.Status != eas.PingChanges {
		t.Fatalf("got %+v, want Status 2: the device has not synced the Inbox", r)
	}
}

func TestHeartbeatExpires(t *testing.T) {
	h, devices := newTestHubDevices(t, HeartbeatBounds{1, 3540})
	if r := ping(h, context.Background(), "alice", "dev1", Request{Heartbeat: 1, Folders: []string{InboxID}}); r.Status != eas.PingExpired || r.Outcome != Expired {
		t.Fatalf("got %+v, want Status 1 expired", r)
	}
	dev, _, _ := devices.Get(context.Background(), "alice", "dev1")
	if len(dev.Pings) != 1 || dev.Pings[0].Outcome != Expired || dev.Pings[0].Heartbeat != 1 {
		t.Fatalf("device record: %+v", dev.Pings)
	}
}

func TestEmptyPingUsesCache(t *testing.T) {
	h := newTestHub(t, HeartbeatBounds{1, 3540})
	ctx := context.Background()
	if r := ping(h, ctx, "alice", "dev1", Request{}); r.Status != eas.PingMissingParameters {
		t.Fatalf("empty Ping with nothing cached: %+v, want Status 3", r)
	}
	if r := ping(h, ctx, "alice", "dev1", Request{Heartbeat: 1, Folders: []string{InboxID, "6"}}); r.Status != eas.PingExpired {
		t.Fatalf("full Ping: %+v", r)
	}
	c := startPing(t, ctx, h, "alice", "dev1", Request{})
	if p := h.heldBy("alice", "dev1"); !slices.Equal(p.folders, []string{InboxID, "6"}) {
		t.Fatalf("empty Ping watches %v, want the cached folders", p.folders)
	}
	if r := recv(t, c); r.Status != eas.PingExpired || r.Outcome != Expired {
		t.Fatalf("empty Ping: %+v, want Status 1 after the cached 1 s heartbeat", r)
	}
}

func TestPingErrors(t *testing.T) {
	h, devices := newTestHubDevices(t, HeartbeatBounds{60, 3540})
	many := make([]string, maxPingFolders+1)
	for i := range many {
		many[i] = InboxID
	}
	for _, tc := range []struct {
		name string
		req  Request
		want Result
	}{
		{"too short", Request{Heartbeat: 59, Folders: []string{InboxID}}, Result{Status: eas.PingHeartbeatOutOfRange, Heartbeat: 60}},
		{"too long", Request{Heartbeat: 3541, Folders: []string{InboxID}}, Result{Status: eas.PingHeartbeatOutOfRange, Heartbeat: 3540}},
		{"too many folders", Request{Heartbeat: 60, Folders: many}, Result{Status: eas.PingTooManyFolders, MaxFolders: maxPingFolders}},
		{"unknown folder", Request{Heartbeat: 60, Folders: []string{InboxID, "99"}}, Result{Status: eas.PingFolderSyncRequired}},
		{"no folders", Request{Heartbeat: 60}, Result{Status: eas.PingMissingParameters}},
	} {
		r := ping(h, context.Background(), "alice", "dev1", tc.req)
		if r.Status != tc.want.Status || r.Heartbeat != tc.want.Heartbeat || r.MaxFolders != tc.want.MaxFolders {
			t.Errorf("%s: got %+v, want %+v", tc.name, r, tc.want)
		}
	}
	if dev, ok, _ := devices.Get(context.Background(), "alice", "dev1"); ok && dev.Heartbeat != 0 {
		t.Errorf("a refused Ping was cached: %+v", dev)
	}
}

func TestCutPingIsRecorded(t *testing.T) {
	h, devices := newTestHubDevices(t, HeartbeatBounds{1, 3540})
	ctx, cancel := context.WithCancel(context.Background())
	c := startPing(t, ctx, h, "alice", "dev1", longPing)
	cancel()
	if r := recv(t, c); r.Outcome != Cut {
		t.Fatalf("got %+v, want outcome cut", r)
	}
	dev, _, _ := devices.Get(context.Background(), "alice", "dev1")
	if len(dev.Pings) != 1 || dev.Pings[0].Outcome != Cut {
		t.Fatalf("device record: %+v", dev.Pings)
	}
}
