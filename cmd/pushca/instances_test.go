package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/ops"
)

// TestInstancesShareOneDatabase is issue 17's proof with the real binary:
// a CA initialised on PostgreSQL, a user added with `pushca users` (a --db
// naming another database refused), and two `pushca serve` processes, each on its own copy of the state
// directory. A Ping held on A answers Status 2 within milliseconds of
// `pushca push` sent to B's admin API. Then A's listening connection is
// killed with pg_terminate_backend while a Ping is held, and a push on B
// still answers it: A reconnects and re-reads the held Pings' folders.
func TestInstancesShareOneDatabase(t *testing.T) {
	s := pgtest.Start(t)
	dsn := s.CreateDB(t, "instances")
	dirA := filepath.Join(t.TempDir(), "a")
	mustPushca(t, passwordEnv(t, "ca password"), "--dir", dirA, "--db", dsn, "init", "--host", "mail.test", "--profiles", "ios")
	pwFile := filepath.Join(t.TempDir(), "alice.pw")
	if err := os.WriteFile(pwFile, []byte("alice secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustPushca(t, nil, "--dir", dirA, "users", "add", "alice", "--password-file", pwFile)
	dirB := filepath.Join(t.TempDir(), "b")
	testtool.MustRun(t, nil, "cp", "-a", dirA, dirB)
	if out := mustPushca(t, nil, "--dir", dirB, "users", "list"); out != "alice\n" {
		t.Fatalf("users list on B's copy: %q, want alice from the database", out)
	}

	for _, args := range [][]string{{"users", "list"}, {"serve", "--host", "mail.test", "--https", "127.0.0.1:0", "--admin", ""}} {
		r := runPushca(t, nil, append([]string{"--dir", dirA, "--db", "bbolt"}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "ca migrate --to bbolt") {
			t.Errorf("%s with --db bbolt on a PostgreSQL CA: exit %d, %q; want a refusal", args[0], r.code, r.stderr)
		}
	}

	srvA, addrsA := startServe(t, dirA, "--host", "mail.test")
	listenerA := listeners(t, dsn)
	if len(listenerA) != 1 {
		t.Fatalf("listening connections with A alone: %v, want one", listenerA)
	}
	srvB, addrsB := startServe(t, dirB, "--host", "mail.test")
	for _, dir := range []string{dirA, dirB} {
		for _, p := range []string{push.UsersPath(dir), push.DevicesPath(dir)} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s exists (%v): the state belongs in the database", p, err)
			}
		}
	}

	dev := newTestDevice(t, dirA, addrsA["ActiveSync"], "INSTANCES1")
	held := dev.hold(t)
	waitHeld(t, dirA, addrsA["ActiveSync"])
	delivered := pushThrough(t, dirB, addrsB["Admin API"])
	answer := pingAnswer(t, held)
	delay := answer.at.Sub(delivered)
	t.Logf("cross-instance push: message stored on B, Ping on A answered %v later", delay)
	if delay > time.Second {
		t.Errorf("the Ping on A answered %v after the delivery on B; the change feed should take milliseconds", delay)
	}

	held = dev.hold(t)
	waitHeld(t, dirA, addrsA["ActiveSync"])
	if n := terminate(t, dsn, listenerA[0]); n != 1 {
		t.Fatalf("terminated %d of A's listening connections, want 1", n)
	}
	delivered = pushThrough(t, dirB, addrsB["Admin API"])
	answer = pingAnswer(t, held)
	t.Logf("push while A's listener was cut: Ping on A answered %v after the delivery on B", answer.at.Sub(delivered))
	if got := listeners(t, dsn); !strings.Contains(strings.Join(got, " "), listenerA[0]) {
		t.Errorf("A's listener did not come back: %v", got)
	}

	srvA.stop(t, syscall.SIGTERM)
	srvB.stop(t, syscall.SIGTERM)

	// cert plan reads the device records from the database too, on B's
	// copy as on A: the iPhone A served would lose its only family.
	mustPushca(t, nil, "--dir", dirB, "cert", "plan", "mail.test")
	r := runPushca(t, nil, "--dir", dirB, "cert", "plan", "mail.test", "--drop", "modern")
	if r.code != exitPlanLoses || !strings.Contains(r.stdout, "INSTANCES1") {
		t.Errorf("cert plan --drop modern on a PostgreSQL CA: exit %d, want %d naming INSTANCES1\n%s%s", r.code, exitPlanLoses, r.stdout, r.stderr)
	}
}

// testDevice is an iOS-like client of alice on one serve.
type testDevice struct {
	c     *eas.Client
	inbox string
	key   string
}

type timedPing struct {
	resp *eas.PingResponse
	err  error
	at   time.Time
}

// newTestDevice provisions, syncs its folders and primes its Inbox.
func newTestDevice(t *testing.T, dir, addr, id string) *testDevice {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(testtool.ReadFile(t, ca.Layout{Dir: dir}.RootCert())) {
		t.Fatal("no root certificate")
	}
	d := &testDevice{c: &eas.Client{
		HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "mail.test"}}},
		URL:  "https://" + addr, Login: "alice", Password: "alice secret",
		DeviceID: id, DeviceType: "iPhone", Version: "14.1", AutoProvision: true,
	}, key: eas.InitialSyncKey}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fs, err := d.c.FolderSync(ctx, eas.InitialSyncKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs.Changes.Add {
		if f.Type == eas.FolderInbox {
			d.inbox = f.ServerID
		}
	}
	return d
}

// hold syncs the Inbox up to date, then sends a Ping; the channel gets its
// answer and when it came.
func (d *testDevice) hold(t *testing.T) <-chan timedPing {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	yes := true
	for {
		col := eas.SyncCollection{SyncKey: d.key, CollectionID: d.inbox, Class: "Email"}
		if d.key != eas.InitialSyncKey {
			col.GetChanges, col.WindowSize = &yes, 50
		}
		r, err := d.c.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{col}})
		if err != nil || len(r.Collections) != 1 || r.Collections[0].Status != eas.SyncOK {
			t.Fatalf("Sync: %+v %v", r, err)
		}
		d.key = r.Collections[0].SyncKey
		if col.GetChanges != nil && !r.Collections[0].MoreAvailable {
			break
		}
	}
	out := make(chan timedPing, 1)
	go func() {
		const heartbeat = 600
		ctx, cancel := context.WithTimeout(context.Background(), eas.PingTimeout(heartbeat*time.Second))
		defer cancel()
		r, err := d.c.Ping(ctx, &eas.PingRequest{HeartbeatInterval: heartbeat, Folders: []eas.PingFolder{{ID: d.inbox, Class: "Email"}}})
		out <- timedPing{r, err, time.Now()}
	}()
	return out
}

// pingAnswer waits, bounded, for a Ping's answer, which must be Status 2.
func pingAnswer(t *testing.T, c <-chan timedPing) timedPing {
	t.Helper()
	select {
	case r := <-c:
		if r.err != nil || r.resp.Status != eas.PingChanges {
			t.Fatalf("Ping answered %+v, %v; want Status 2", r.resp, r.err)
		}
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the held Ping was not answered within 30 s of the push")
	}
	return timedPing{}
}

// waitHeld waits, bounded, until the serve on addr reports a held Ping on
// /metrics, so that the push that follows reaches a Ping already parked.
func waitHeld(t *testing.T, dir, addr string) {
	t.Helper()
	token, err := ops.ReadToken(push.MetricsTokenPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(testtool.ReadFile(t, ca.Layout{Dir: dir}.RootCert()))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "mail.test"}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if heldPings(t, client, addr, token) >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no Ping held within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// heldPings is the pushca_pings_held gauge of the serve on addr.
func heldPings(t *testing.T, client *http.Client, addr, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+ops.MetricsPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "pushca_pings_held "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	t.Fatalf("no pushca_pings_held on /metrics (HTTP %d)", resp.StatusCode)
	return 0
}

// pushThrough runs `pushca push alice` against the admin API at admin and
// returns when the message was stored.
func pushThrough(t *testing.T, dir, admin string) time.Time {
	t.Helper()
	var res ops.DeliverResult
	if err := json.Unmarshal([]byte(mustPushca(t, nil, "--dir", dir, "push", "alice", "--admin", admin, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	return res.Message.Received
}

// listeners are the application names of the push change feed's
// listening connections on dsn's server.
func listeners(t *testing.T, dsn string) []string {
	t.Helper()
	var names []string
	query(t, dsn, func(conn *pgx.Conn) error {
		rows, _ := conn.Query(context.Background(), "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'pushca-push-listen-%' ORDER BY 1")
		var err error
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return names
}

// terminate ends the backends named app, as an outage would, and returns
// how many there were.
func terminate(t *testing.T, dsn, app string) int {
	t.Helper()
	var n int
	query(t, dsn, func(conn *pgx.Conn) error {
		return conn.QueryRow(context.Background(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n)
	})
	return n
}

func query(t *testing.T, dsn string, fn func(*pgx.Conn) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := fn(conn); err != nil {
		t.Fatal(err)
	}
}
