package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// client is a device speaking version, trusting only the test root.
func (ts *testServer) client(version, device string, base64Query bool) *eas.Client {
	pool := x509.NewCertPool()
	pool.AddCert(ts.root.cert)
	return &eas.Client{
		HTTP: &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: testHost},
		}},
		URL:   "https://" + ts.HTTPSAddr(),
		Login: `CORP\alice`, Password: "secret",
		DeviceID: device, DeviceType: "PocketPC", Version: version, Base64Query: base64Query,
	}
}

func (ts *testServer) deliver(t *testing.T, subject, body string) ops.DeliverResult {
	t.Helper()
	res, err := ops.Deliver(context.Background(), "http://"+ts.AdminAddr(), ts.Token(), ops.DeliverRequest{User: "alice", Subject: subject, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type pingReply struct {
	resp *eas.PingResponse
	err  error
}

// heldPing sends a Ping from c and returns once the server holds it.
func (ts *testServer) heldPing(t *testing.T, c *eas.Client, req *eas.PingRequest) <-chan pingReply {
	t.Helper()
	held := ts.watchHeld("alice", c.DeviceID)
	out := make(chan pingReply, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r, err := c.Ping(ctx, req)
		out <- pingReply{r, err}
	}()
	held(t)
	return out
}

// watchHeld returns a function that waits until the server holds a Ping
// of user's device that came after watchHeld: the hub announces each Ping
// it parks on its store's feed.
func (ts *testServer) watchHeld(user, device string) func(*testing.T) {
	c := make(chan struct{}, 1)
	stop := ts.mail.Subscribe(func(_ context.Context, ch state.Change) {
		if ch.Kind == state.PingHeld && ch.User == user && ch.Device == device {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	})
	return func(t *testing.T) {
		t.Helper()
		defer stop()
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatalf("no Ping of %s's %s held", user, device)
		}
	}
}

func pingStatus(t *testing.T, c <-chan pingReply) *eas.PingResponse {
	t.Helper()
	select {
	case r := <-c:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.resp
	case <-time.After(time.Minute):
		t.Fatal("Ping not answered")
	}
	return nil
}

func inboxPing(hb int) *eas.PingRequest {
	return &eas.PingRequest{HeartbeatInterval: hb, Folders: []eas.PingFolder{{ID: ping.InboxID, Class: "Email"}}}
}

// TestDeviceFlow runs what a device does, per protocol version, against
// the real server over TLS: Provision, FolderSync, GetItemEstimate, Sync,
// Settings and Ping, with a test message delivered through the admin API.
func TestDeviceFlow(t *testing.T) {
	for _, tc := range []struct {
		version string
		base64  bool
	}{{"2.5", false}, {"12.0", false}, {"12.1", true}, {"14.0", false}, {"14.1", true}, {"16.0", false}, {"16.1", true}} {
		t.Run(tc.version, func(t *testing.T) {
			ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
			ctx := context.Background()
			c := ts.client(tc.version, "DEV"+strings.ReplaceAll(tc.version, ".", ""), tc.base64)

			if _, err := c.FolderSync(ctx, eas.InitialSyncKey); !errors.Is(err, eas.ErrProvisionRequired) {
				t.Fatalf("FolderSync before Provision: %v, want a provisioning refusal", err)
			}
			prov, err := c.Provision(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tc.version == "2.5" {
				if prov.Policy.PolicyType != eas.PolicyTypeWAP || !strings.Contains(prov.Policy.Data.WAP, "<wap-provisioningdoc>") {
					t.Fatalf("2.5 policy: %+v", prov.Policy)
				}
			} else if prov.Policy.PolicyType != eas.PolicyTypeWBXML || prov.Policy.Data.EASProvisionDoc == nil {
				t.Fatalf("%s policy: %+v", tc.version, prov.Policy)
			}

			fs, err := c.FolderSync(ctx, eas.InitialSyncKey)
			if err != nil {
				t.Fatal(err)
			}
			if fs.Status != eas.FolderSyncOK || fs.Changes.Count != len(ping.Folders()) || fs.Changes.Add[0].Type != eas.FolderInbox {
				t.Fatalf("FolderSync: %+v", fs)
			}

			prime, err := c.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{{Class: "Email", SyncKey: eas.InitialSyncKey, CollectionID: ping.InboxID}}})
			if err != nil {
				t.Fatal(err)
			}
			key := prime.Collections[0].SyncKey
			if key == eas.InitialSyncKey || prime.Collections[0].Commands != nil {
				t.Fatalf("priming Sync: %+v", prime.Collections[0])
			}

			ts.deliver(t, "first", "hello from pushca")
			est, err := c.GetItemEstimate(ctx, &eas.GetItemEstimateRequest{Collections: []eas.EstimateCollection{{Class: "Email", SyncKey: key, CollectionID: ping.InboxID}}})
			if err != nil {
				t.Fatal(err)
			}
			if r := est.Responses[0]; r.Status != eas.EstimateOK || r.Collection.Estimate != 1 {
				t.Fatalf("GetItemEstimate: %+v %+v", r, r.Collection)
			}

			yes := true
			col := eas.SyncCollection{Class: "Email", SyncKey: key, CollectionID: ping.InboxID, GetChanges: &yes, WindowSize: 10}
			if tc.version != "2.5" {
				col.Options = &eas.SyncOptions{BodyPreference: []eas.BodyPreference{{Type: eas.BodyPlain, TruncationSize: 5}}}
			}
			sr, err := c.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{col}})
			if err != nil {
				t.Fatal(err)
			}
			got := sr.Collections[0]
			if got.Status != eas.SyncOK || got.Commands == nil || len(got.Commands.Add) != 1 {
				t.Fatalf("Sync: %+v", got)
			}
			mail := got.Commands.Add[0].ApplicationData
			if mail.Subject != "first" || mail.MessageClass != eas.MessageClassNote {
				t.Fatalf("message: %+v", mail)
			}
			if tc.version == "2.5" {
				if mail.Body != nil || mail.LegacyBody != "hello from pushca" {
					t.Fatalf("2.5 must get Email:Body only: %+v", mail)
				}
			} else if mail.LegacyBody != "" || mail.Body == nil || mail.Body.Data != "hello" || !mail.Body.Truncated || mail.Body.EstimatedDataSize != 17 {
				t.Fatalf("%s must get a truncated AirSyncBase:Body only: %+v %+v", tc.version, mail, mail.Body)
			}
			key = got.SyncKey

			if _, err := c.Settings(ctx, &eas.SettingsRequest{DeviceInformation: &eas.DeviceInformation{Model: "HTC Test", OS: "Windows CE"}}); err != nil {
				t.Fatal(err)
			}

			// Synced: a 1 s Ping expires with Status 1.
			pctx, cancel := context.WithTimeout(ctx, eas.PingTimeout(time.Second))
			pr, err := c.Ping(pctx, inboxPing(1))
			cancel()
			if err != nil || pr.Status != eas.PingExpired {
				t.Fatalf("1 s Ping: %+v %v", pr, err)
			}
			// Out of bounds: Status 5 with the bound.
			if pr, err := c.Ping(ctx, inboxPing(4000)); err != nil || pr.Status != eas.PingHeartbeatOutOfRange || pr.HeartbeatInterval != 3540 {
				t.Fatalf("4000 s Ping: %+v %v", pr, err)
			}
			// A held Ping answers Status 2 when a message is delivered.
			held := ts.heldPing(t, c, inboxPing(3000))
			if res := ts.deliver(t, "second", "b"); res.Woken != 1 {
				t.Fatalf("woken %d", res.Woken)
			}
			if pr := pingStatus(t, held); pr.Status != eas.PingChanges || !slices.Equal(pr.Folders, []string{ping.InboxID}) {
				t.Fatalf("held Ping after delivery: %+v", pr)
			}
			sr, err = c.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{{Class: "Email", SyncKey: key, CollectionID: ping.InboxID, GetChanges: &yes}}})
			if err != nil || len(sr.Collections[0].Commands.Add) != 1 {
				t.Fatalf("second Sync: %+v %v", sr, err)
			}

			// A newer Ping from the same device (an empty one, reusing the
			// cache) ends the older with Status 1; stopping the server
			// answers the newer with Status 1 too.
			first := ts.heldPing(t, c, inboxPing(3000))
			second := ts.heldPing(t, c, nil)
			if pr := pingStatus(t, first); pr.Status != eas.PingExpired {
				t.Fatalf("older Ping: %+v", pr)
			}
			if err := ts.stop(); err != nil {
				t.Fatal(err)
			}
			if pr := pingStatus(t, second); pr.Status != eas.PingExpired {
				t.Fatalf("Ping held over shutdown: %+v", pr)
			}
		})
	}
}

func TestStalePolicyKey(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	ctx := context.Background()
	c := ts.client("14.1", "STALE1", true)
	if _, err := c.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	c.SetPolicyKey(c.PolicyKey() + 1)
	var se *eas.StatusError
	if _, err := c.FolderSync(ctx, eas.InitialSyncKey); !errors.As(err, &se) || se.Status != eas.StatusInvalidPolicyKey {
		t.Fatalf("stale key at 14.1: %v, want Status 144", err)
	}
	old := ts.client("12.1", "STALE2", false)
	old.SetPolicyKey(42)
	var he *eas.HTTPError
	if _, err := old.FolderSync(ctx, eas.InitialSyncKey); !errors.As(err, &he) || he.StatusCode != 449 {
		t.Fatalf("unknown key at 12.1: %v, want HTTP 449", err)
	}
}

func TestDevicesSurviveServerRestart(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	ctx := context.Background()
	c := ts.client("14.1", "KEEP1", false)
	if _, err := c.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FolderSync(ctx, eas.InitialSyncKey); err != nil {
		t.Fatal(err)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(Config{Dir: ts.dir, Pairs: ts.cfg.Pairs, HTTPSAddr: "127.0.0.1:0", Log: testtool.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	dev, ok, _ := s2.devices.Get(context.Background(), "alice", "KEEP1")
	s2.devices.Close()
	if !ok || dev.PolicyKey != c.PolicyKey() || dev.FolderSyncKey != folderSyncKey || dev.Protocol != "14.1" {
		t.Fatalf("after restart: %+v", dev)
	}
}

// TestCutPingOverTLS drops the connection of a held Ping, as a NAT would,
// and checks the device record says so: the server notices through the
// request context, before the heartbeat ends.
func TestCutPingOverTLS(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	c := ts.client("12.1", "CUT1", false)
	if _, err := c.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	held := ts.watchHeld("alice", "CUT1")
	go func() {
		_, err := c.Ping(ctx, inboxPing(3000))
		done <- err
	}()
	held(t)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled Ping returned no error")
	}
	testtool.WaitFor(t, func() bool {
		dev, _, _ := ts.devices.Get(context.Background(), "alice", "CUT1")
		return len(dev.Pings) == 1
	})
	if dev, _, _ := ts.devices.Get(context.Background(), "alice", "CUT1"); dev.Pings[0].Outcome != ping.Cut || dev.Pings[0].Heartbeat != 3000 {
		t.Fatalf("recorded %+v, want a cut 3000 s Ping", dev.Pings[0])
	}
}
