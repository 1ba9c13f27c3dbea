package push

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// Environment of TestFileLimitServer, the server half of
// TestListenerSurvivesTooManyOpenFiles.
const (
	fdLimitDirEnv  = "PUSHCA_FDLIMIT_DIR"
	fdLimitCertEnv = "PUSHCA_FDLIMIT_CERT"
	fdLimitKeyEnv  = "PUSHCA_FDLIMIT_KEY"
	// fdLimitSlack is how many descriptors the child may open beyond those
	// it has once it listens: a few connections, then EMFILE.
	fdLimitSlack = 8
)

// TestListenerSurvivesTooManyOpenFiles runs the server in a child process
// whose open-files limit leaves room for a few connections, opens many
// more than that to the HTTPS port, so that accept fails with EMFILE, then
// closes them: the server must answer a login with 200 again (it used to
// stop accepting for good after the first such error), and must have said
// so at error level, not once per retry.
func TestListenerSurvivesTooManyOpenFiles(t *testing.T) {
	dir := t.TempDir()
	root := newTestCA(t)
	root.writeRoot(t, dir)
	pair := root.writeServer(t, dir, true, testHost)
	u, err := OpenUsers(UsersPath(dir), bcrypt.MinCost)
	if err == nil {
		err = u.Add("alice", "secret")
	}
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFileLimitServer$")
	child.Env = append(os.Environ(), fdLimitDirEnv+"="+dir, fdLimitCertEnv+"="+pair.Cert, fdLimitKeyEnv+"="+pair.Key)
	var logs testtool.Buffer
	child.Stderr = &logs
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		child.Wait()
	}()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "https="); ok {
				addrc <- a
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-ctx.Done():
		t.Fatalf("the child did not start:\n%s", logs.String())
	}

	pool := x509.NewCertPool()
	pool.AddCert(root.cert)
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: testHost}, DisableKeepAlives: true},
		Timeout:   2 * time.Second,
	}
	login := func() (int, error) {
		req, _ := http.NewRequest(http.MethodOptions, "https://"+addr+ActiveSyncPath, nil)
		req.SetBasicAuth("alice", "secret")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := login(); code != http.StatusOK {
		t.Fatalf("before the flood: %d %v\n%s", code, err, logs.String())
	}

	flood := time.Now()
	var conns []net.Conn
	for range 10 * fdLimitSlack {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i := 0; !strings.Contains(logs.String(), "too many open files"); i++ {
		if i == 300 {
			t.Fatalf("the child never ran out of descriptors:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range conns {
		c.Close()
	}

	deadline := time.Now().Add(30 * time.Second)
	var code int
	for i := 0; i < 100 && time.Now().Before(deadline); i++ {
		if code, err = login(); code == http.StatusOK {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	log := logs.String()
	if code != http.StatusOK {
		t.Fatalf("no 200 after the descriptors were released (last: %d %v); the listener is dead\n%s", code, err, log)
	}
	if !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "cannot accept connections") {
		t.Errorf("accept errors not logged at error level:\n%s", log)
	}
	// The back-off retries many times a second; the log says so once
	// every acceptLogEvery.
	if n, most := strings.Count(log, "cannot accept connections"), int(time.Since(flood)/acceptLogEvery)+1; n > most {
		t.Errorf("%d accept error lines in %v: not rate-limited\n%s", n, time.Since(flood), log)
	}
}

// TestFileLimitServer is the child of TestListenerSurvivesTooManyOpenFiles:
// it serves the directory the parent made, lowers its own open-files limit
// to what it has open plus fdLimitSlack, prints the HTTPS address, and
// serves until stdin closes. Without the environment it does nothing.
func TestFileLimitServer(t *testing.T) {
	dir := os.Getenv(fdLimitDirEnv)
	if dir == "" {
		t.Skip("only run by TestListenerSurvivesTooManyOpenFiles")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(Config{
		Dir:       dir,
		Pairs:     []KeyPair{{Cert: os.Getenv(fdLimitCertEnv), Key: os.Getenv(fdLimitKeyEnv), Family: profile.FamilyModernRSA}},
		HTTPSAddr: "127.0.0.1:0", BcryptCost: bcrypt.MinCost,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(len(open) + fdLimitSlack)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Printf("https=%s\n", s.HTTPSAddr())
	if err := s.Serve(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOneAccountCannotHoldUnboundedPings: one account Pinging from ever new
// DeviceIds keeps at most DevicesPerUser Pings held and device records
// (on disk too), the oldest going first, and /metrics counts the
// evictions.
func TestOneAccountCannotHoldUnboundedPings(t *testing.T) {
	const limit, devices = 3, 5
	ts := startServerWith(t, ping.HeartbeatBounds{Min: 1, Max: 3540}, func(c *Config) { c.DevicesPerUser = limit })
	var replies []<-chan pingReply
	for i := range devices {
		c := ts.client("14.1", fmt.Sprintf("FLOOD%d", i), false)
		if _, err := c.Provision(context.Background()); err != nil {
			t.Fatal(err)
		}
		replies = append(replies, ts.heldPing(t, c, inboxPing(3000)))
	}
	for i, c := range replies[:devices-limit] {
		if r := pingStatus(t, c); r.Status != 1 {
			t.Errorf("evicted Ping %d: Status %d, want 1", i, r.Status)
		}
	}
	if n := ts.hub.Held(); n != limit {
		t.Errorf("%d Pings held for one user, want %d", n, limit)
	}
	if devs, err := ts.devices.List(context.Background()); err != nil || len(devs) > limit {
		n := len(devs)
		t.Errorf("%d device records for one user (%v), want at most %d", n, err, limit)
	}
	fams, _ := ts.scrape(t, ts.MetricsToken())
	for kind, want := range map[string]float64{"ping": devices - limit, "device": devices - limit} {
		if got := value(t, fams, "pushca_evictions_total", map[string]string{"kind": kind}); got != want {
			t.Errorf("pushca_evictions_total{kind=%q} = %v, want %v", kind, got, want)
		}
	}
	if got := value(t, fams, "pushca_pings_total", map[string]string{"ending": ping.Evicted}); got != devices-limit {
		t.Errorf("pushca_pings_total{ending=evicted} = %v", got)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	d, err := state.OpenBoltDevices(DevicesPath(ts.dir), testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if devs, err := d.List(context.Background()); err != nil || len(devs) > limit {
		n := len(devs)
		t.Errorf("%d device records on disk (%v), want at most %d", n, err, limit)
	}
}
