package push

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/ping"
)

// countingDevice is a device whose transport counts the TCP connections it
// opens and keeps the last one, so a test can watch it from outside.
type countingDevice struct {
	*eas.Client
	dials atomic.Int32
	mu    sync.Mutex
	last  net.Conn
}

func (ts *testServer) countingDevice(id string) *countingDevice {
	d := &countingDevice{Client: ts.client("14.1", id, false)}
	tr := d.HTTP.Transport.(*http.Transport)
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			d.dials.Add(1)
			d.mu.Lock()
			d.last = c
			d.mu.Unlock()
		}
		return c, err
	}
	return d
}

// An answered Ping's connection waits, outside net/http, for the device's
// next request: that request and the ones after it are served on the same
// connection, the next Ping parks on it again, and a shutdown closes a
// connection that is waiting.
func TestAnsweredConnectionServesNextRequest(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	ctx := context.Background()
	d := ts.countingDevice("NEXT1")
	if _, err := d.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	sync := func(key string) string {
		t.Helper()
		r, err := d.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{{Class: "Email", SyncKey: key, CollectionID: ping.InboxID}}})
		if err != nil || len(r.Collections) != 1 || r.Collections[0].SyncKey == "" {
			t.Fatalf("Sync %s: %+v %v", key, r, err)
		}
		return r.Collections[0].SyncKey
	}
	key := sync(eas.InitialSyncKey)
	for i := range 3 {
		held := ts.heldPing(t, d.Client, inboxPing(900))
		ts.deliver(t, "wake", "body")
		if r := pingStatus(t, held); r.Status != eas.PingChanges {
			t.Fatalf("Ping %d: %+v, want Status 2", i, r)
		}
		// Right after the answer, as a device does: the Sync meets a
		// connection that left net/http.
		key = sync(key)
	}
	if n := d.dials.Load(); n != 1 {
		t.Fatalf("%d connections, want every request on one", n)
	}

	// Answered and not spoken to again: the connection waits in the
	// parked reader until the server stops.
	held := ts.heldPing(t, d.Client, inboxPing(900))
	ts.deliver(t, "wake", "body")
	if r := pingStatus(t, held); r.Status != eas.PingChanges {
		t.Fatalf("last Ping: %+v", r)
	}
	d.mu.Lock()
	conn := d.last
	d.mu.Unlock()
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	// The transport's idle reader sees the end first and closes its side,
	// so this read ends with EOF or "closed"; only a timeout means the
	// server kept the connection.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the server stopped: %v; want the connection closed", err)
	}
}
