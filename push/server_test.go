package push

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

type testServer struct {
	*Server
	dir, rootPath string
	root          *testCA
	stop          func() error
}

// startServer runs a full server on loopback ephemeral ports with an RSA
// chain made in the test, named as the server's modern-rsa family the way
// `serve --cert --key` names files (the directory holds no CA), and
// alice/secret in the users file.
func startServer(t testing.TB, bounds ping.HeartbeatBounds, profiles ...string) *testServer {
	t.Helper()
	return startServerWith(t, bounds, nil, profiles...)
}

// startServerWith is startServer with the configuration changed by edit
// (when not nil) before the server is made.
func startServerWith(t testing.TB, bounds ping.HeartbeatBounds, edit func(*Config), profiles ...string) *testServer {
	t.Helper()
	dir := t.TempDir()
	root := newTestCA(t)
	rootPath := root.writeRoot(t, dir)
	pair := root.writeServer(t, dir, true, testHost)
	pair.Family = profile.FamilyModernRSA
	u, err := OpenUsers(UsersPath(dir), bcrypt.MinCost)
	if err == nil {
		err = u.Add("alice", "secret")
	}
	if err != nil {
		t.Fatal(err)
	}
	var ps []profile.Profile
	for _, n := range profiles {
		p, err := profile.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	cfg := Config{
		Dir: dir, Pairs: []KeyPair{pair}, Profiles: ps,
		HTTPSAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Heartbeat: bounds, BcryptCost: bcrypt.MinCost, Log: testtool.Log(t),
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: s, dir: dir, rootPath: rootPath, root: root, stop: serveInTest(t, s)}
}

// serveInTest runs s until the test ends or stop is called.
func serveInTest(t testing.TB, s *Server) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Listen(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("server did not stop")
		}
		return nil
	}
	t.Cleanup(func() { stop() })
	return stop
}

// curl runs curl against the HTTPS side as a device would, trusting only
// the test root; it returns the response headers and body.
func (ts *testServer) curl(t *testing.T, args ...string) (headers, body string) {
	t.Helper()
	port := ts.HTTPSAddr()[strings.LastIndexByte(ts.HTTPSAddr(), ':')+1:]
	hfile := filepath.Join(t.TempDir(), "headers")
	base := []string{"-sS", "--max-time", "60", "--cacert", ts.rootPath,
		"--resolve", testHost + ":" + port + ":127.0.0.1", "-D", hfile}
	out := testtool.MustRun(t, nil, "curl", append(base, append(args, "https://"+testHost+":"+port+ActiveSyncPath)...)...)
	h, _ := os.ReadFile(hfile)
	return string(h), string(out)
}

func TestOptionsWithCurl(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	h, _ := ts.curl(t, "-X", "OPTIONS")
	if !strings.HasPrefix(h, "HTTP/1.1 401") || !strings.Contains(h, `WWW-Authenticate: Basic realm="pushca ActiveSync"`) {
		t.Fatalf("without credentials:\n%s", h)
	}
	h, _ = ts.curl(t, "-X", "OPTIONS", "-u", `CORP\alice:secret`)
	for _, want := range []string{
		"HTTP/1.1 200", "MS-ASProtocolVersions: 2.5,12.0,12.1,14.0,14.1,16.0,16.1", "MS-ASProtocolCommands: Sync,FolderSync,GetItemEstimate,Ping,Provision,Settings",
		"MS-Server-ActiveSync: 16.1", "Allow: OPTIONS,POST", "Public: OPTIONS,POST",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("OPTIONS headers lack %q:\n%s", want, h)
		}
	}
}

func TestPlainHTTP(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	base := "http://" + ts.HTTPAddr()
	req, _ := http.NewRequest(http.MethodPost, base+ActiveSyncPath+"?Cmd=Ping&User=alice&DeviceId=A&DeviceType=PocketPC", nil)
	req.SetBasicAuth("alice", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := testtool.ReadBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "HTTPS only") {
		t.Fatalf("ActiveSync on plain HTTP: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(base + "/root.crt")
	if err != nil {
		t.Fatal(err)
	}
	if der := testtool.ReadBody(t, resp); der != string(ts.root.cert.Raw) || resp.Header.Get("Content-Type") != "application/x-x509-ca-cert" {
		t.Fatalf("root.crt: %s, %d bytes", resp.Header.Get("Content-Type"), len(der))
	}
	resp, err = http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	if page := testtool.ReadBody(t, resp); !strings.Contains(page, fingerprint(sha256Of(ts.root.cert.Raw))) {
		t.Fatalf("page lacks the SHA-256 fingerprint:\n%s", page)
	}
	out := testtool.MustRun(t, nil, "curl", "-sS", "http://"+ts.HTTPAddr()+"/root.pem")
	if _, errb, err := testtool.Run(t, out, "openssl", "x509", "-noout", "-subject"); err != nil {
		t.Fatalf("openssl cannot read root.pem: %v %s", err, errb)
	}
}

func TestAdminAPI(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	base := "http://" + ts.AdminAddr()
	if fi, err := os.Stat(TokenPath(ts.dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	resp, err := http.Post(base+ops.AdminDeliverPath, "application/json", strings.NewReader(`{"user":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	if testtool.ReadBody(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without token: %d", resp.StatusCode)
	}
	ctx := context.Background()
	if _, err := ops.Deliver(ctx, base, "wrong"+ts.Token(), ops.DeliverRequest{User: "alice"}); err == nil {
		t.Fatal("wrong token accepted")
	}
	if _, err := ops.Deliver(ctx, base, ts.Token(), ops.DeliverRequest{User: "nobody"}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown user: %v", err)
	}
	res, err := ops.Deliver(ctx, base, ts.Token(), ops.DeliverRequest{User: `CORP\Alice`, Subject: "hello"})
	if err != nil || res.Message.Subject != "hello" || res.Message.To != "alice" {
		t.Fatalf("deliver: %+v %v", res, err)
	}
	ts.devices.Update(context.Background(), "alice", "dev1", func(d *state.Device) { d.Type = "PocketPC" })
	req, _ := http.NewRequest(http.MethodGet, base+ops.AdminDevicesPath, nil)
	req.Header.Set("Authorization", "Bearer "+ts.Token())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var devs []state.Device
	if err := json.Unmarshal([]byte(testtool.ReadBody(t, resp)), &devs); err != nil || len(devs) != 1 || devs[0].Type != "PocketPC" {
		t.Fatalf("devices: %+v %v", devs, err)
	}
}
