package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/pgstate"
	"github.com/pushca/pushca/push/state"
)

// The servers under load run in child processes (this test binary run
// again), so their /proc figures hold the server alone.
const (
	childEnv = "PUSHCA_LOAD_CHILD" // "baseline" or a key of pushcaKinds
	childDir = "PUSHCA_LOAD_DIR"
	// childDB is the PostgreSQL database the pushca-pg servers share.
	childDB = "PUSHCA_LOAD_DB"
	// profileEnv names a file prefix: each server's CPU profile and
	// runtime trace, and the client's CPU profile, over the broadcast.
	profileEnv = "PUSHCA_LOAD_PROFILE"
	testHost   = "mail.test"
	crowdUser  = "bench"
	password   = "bench password"
	caPassword = "load test CA"
)

// pushcaKinds are the pushca servers a child process can run besides the
// baseline: the fixture's CA served as `pushca serve --host` does (every
// chain family), and one family's chain served alone.
var pushcaKinds = map[string]func(dir string) (push.Config, error){
	"pushca":                         hostConfig,
	"pushca-" + profile.FamilyLegacy: oneFamilyConfig(profile.FamilyLegacy),
	"pushca-" + profile.FamilyModern: oneFamilyConfig(profile.FamilyModern),
	sharedKind:                       hostConfig, // and withSharedState in the child
}

// sharedKind is pushca serving hostConfig's CA with its state in the
// database childDB names.
const sharedKind = "pushca-pg"

func TestMain(m *testing.M) {
	kind := os.Getenv(childEnv)
	if kind == "" {
		os.Exit(m.Run())
	}
	if kind == "baseline" {
		os.Exit(child(runBaseline))
	}
	config, ok := pushcaKinds[kind]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s=%q: want baseline or one of %v\n", childEnv, kind, slices.Sorted(maps.Keys(pushcaKinds)))
		os.Exit(2)
	}
	if kind == sharedKind {
		config = withSharedState(config)
	}
	os.Exit(child(runPushca(config)))
}

// child runs a server until its standard input closes: the parent's
// death ends it too.
func child(serve func(ctx context.Context, dir string, ready func(https, admin string)) error) int {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	// SIGUSR1 asks for memory after GC: collect and hand freed pages
	// back, so RSS holds what is live.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			runtime.GC()
			debug.FreeOSMemory()
		}
	}()
	if prefix := os.Getenv(profileEnv); prefix != "" {
		go profileOnSignal(prefix + "." + os.Getenv(childEnv))
	}
	err := serve(ctx, os.Getenv(childDir), func(https, admin string) {
		fmt.Printf("https=%s admin=%s\n", https, admin)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// profileOnSignal starts a CPU profile and a runtime trace at one SIGUSR2
// and stops them at the next.
func profileOnSignal(prefix string) {
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	for range usr2 {
		stop, err := startProfile(prefix, true)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return
		}
		<-usr2
		stop()
	}
}

// startProfile writes a CPU profile to prefix.cpu (and a runtime trace to
// prefix.trace) until stop is called.
func startProfile(prefix string, withTrace bool) (stop func(), err error) {
	cpu, err := os.Create(prefix + ".cpu")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, err
	}
	var tr *os.File
	if withTrace {
		if tr, err = os.Create(prefix + ".trace"); err == nil {
			err = trace.Start(tr)
		}
		if err != nil {
			pprof.StopCPUProfile()
			cpu.Close()
			return nil, err
		}
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		if tr != nil {
			trace.Stop()
			tr.Close()
		}
	}, nil
}

// fixture is what the servers serve: one CA made for a wm6 and modern
// fleet, so a legacy RSA SHA-1 chain and a modern ECDSA chain under one
// root, its certificates for testHost, and the users. The CA's state
// directory is dir/state.
type fixture struct {
	dir   string
	roots []*x509.Certificate
	db    string // for pushca-pg servers (sharedFixture)
}

func newFixture(t testing.TB, probes int) fixture {
	t.Helper()
	ctx := context.Background()
	f := fixture{dir: t.TempDir()}
	state := filepath.Join(f.dir, "state")
	families, err := profile.FamiliesFor([]string{"wm6", "modern"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Init(ctx, state, ca.InitOptions{Families: families, Password: []byte(caPassword)}); err != nil {
		t.Fatal(err)
	}
	authority, err := ca.Open(ctx, state, []byte(caPassword))
	if err != nil {
		t.Fatal(err)
	}
	_, err = authority.Issue(ctx, ca.IssueRequest{Host: testHost, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	f.roots = append(f.roots, authority.Root())
	authority.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "push"), 0o700); err != nil {
		t.Fatal(err)
	}
	users, err := push.OpenUsers(push.UsersPath(state), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	addLoadUsers(t, users, probes)
	return f
}

func probeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = probeLogin(i)
	}
	return out
}

func probeLogin(i int) string { return fmt.Sprintf("probe%d", i) }

// childPairs reads the fixture's chains back in the child, by family.
func childPairs(dir string) (map[string]push.KeyPair, error) {
	state := filepath.Join(dir, "state")
	slots, err := ca.ReadSlots(state)
	if err != nil {
		return nil, err
	}
	l := ca.Layout{Dir: state}
	out := map[string]push.KeyPair{}
	for _, s := range slots {
		out[s.Family] = push.KeyPair{Cert: l.ServerChain(testHost, s), Key: l.ServerKey(testHost, s), Family: s.Family}
	}
	return out, nil
}

// hostConfig serves the fixture's CA as `pushca serve --host
// --devices-per-user 0` does: every device of the crowd is one user's.
func hostConfig(dir string) (push.Config, error) {
	return push.Config{Dir: filepath.Join(dir, "state"), Host: testHost, DevicesPerUser: -1}, nil
}

// withSharedState is config with the users, device records and mailbox in
// the database childDB names, as pushca serve keeps them on a CA in
// PostgreSQL: several such servers serve the same users. Only the child
// opens the database; its exit closes it.
func withSharedState(config func(dir string) (push.Config, error)) func(dir string) (push.Config, error) {
	return func(dir string) (push.Config, error) {
		cfg, err := config(dir)
		if err != nil {
			return cfg, err
		}
		return sharedState(cfg)
	}
}

func sharedState(cfg push.Config) (push.Config, error) {
	db, err := pgstate.Open(context.Background(), os.Getenv(childDB), slog.New(slog.DiscardHandler))
	if err != nil {
		return cfg, err
	}
	users, err := pgstate.OpenUsers(context.Background(), db.Pool())
	if err != nil {
		return cfg, err
	}
	db.SetDeviceRules(cfg.DevicesPerUser, state.DefaultHeartbeatAlert())
	cfg.Users, cfg.Store, cfg.Devices = users, db.Store(), db.Devices()
	return cfg, nil
}

// sharedFixture is f with a PostgreSQL database for pushca-pg servers,
// holding the crowd's and the probes' users.
func sharedFixture(t testing.TB, f fixture, probes int) fixture {
	t.Helper()
	return withDatabase(t, pgtest.Start(t), f, "pushca", probes)
}

// withDatabase is f with a new database named name on s, holding the
// crowd's and the probes' users.
func withDatabase(t testing.TB, s *pgtest.Server, f fixture, name string, probes int) fixture {
	t.Helper()
	f.db = s.CreateDB(t, name)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, f.db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	src, err := pgstate.OpenUsers(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	users, err := push.NewUsers(src, bcrypt.MinCost, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addLoadUsers(t, users, probes)
	return f
}

// addLoadUsers adds the crowd's and the probes' users to users.
func addLoadUsers(t testing.TB, users *push.Users, probes int) {
	t.Helper()
	for _, u := range append([]string{crowdUser}, probeNames(probes)...) {
		if err := users.Add(u, password); err != nil {
			t.Fatal(err)
		}
	}
}

// oneFamilyConfig serves one family's chain of the fixture alone, from a
// state directory of its own (a device database admits one server).
func oneFamilyConfig(family string) func(dir string) (push.Config, error) {
	return func(dir string) (push.Config, error) {
		pairs, err := childPairs(dir)
		if err != nil {
			return push.Config{}, err
		}
		return push.Config{Dir: filepath.Join(dir, "only-"+family), Pairs: []push.KeyPair{pairs[family]}, DevicesPerUser: -1}, nil
	}
}

func runPushca(config func(dir string) (push.Config, error)) func(ctx context.Context, dir string, ready func(https, admin string)) error {
	return func(ctx context.Context, dir string, ready func(https, admin string)) error {
		cfg, err := config(dir)
		if err != nil {
			return err
		}
		cfg.HTTPSAddr, cfg.AdminAddr, cfg.BcryptCost = "127.0.0.1:0", "127.0.0.1:0", bcrypt.MinCost
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		s, err := push.New(cfg)
		if err != nil {
			return err
		}
		if err := s.Listen(ctx); err != nil {
			return err
		}
		ready(s.HTTPSAddr(), s.AdminAddr())
		return s.Serve(ctx)
	}
}

// runBaseline is the yardstick: net/http and crypto/tls as anyone would
// write a long-poll server, with the same chains and suites but no
// authentication, protocol checks or device records. A Ping waits on its
// user's channel, which a delivery closes.
func runBaseline(ctx context.Context, dir string, ready func(https, admin string)) error {
	byFamily, err := childPairs(dir)
	if err != nil {
		return err
	}
	// ECDSA first: Go's server takes the first certificate a client
	// supports.
	pairs := []push.KeyPair{byFamily[profile.FamilyModern], byFamily[profile.FamilyLegacy]}
	certs, err := push.LoadCertificates(pairs, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	cfg := push.TLSConfig(certs, certs.Profiles())
	cfg.GetCertificate = nil
	for _, p := range pairs {
		c, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if err != nil {
			return err
		}
		cfg.Certificates = append(cfg.Certificates, c)
	}
	var mu sync.Mutex
	waits := map[string]chan struct{}{}
	var answered atomic.Int64 // Pings woken by a delivery
	wait := func(user string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if waits[user] == nil {
			waits[user] = make(chan struct{})
		}
		return waits[user]
	}
	changes, _ := eas.Marshal(&eas.PingResponse{Status: eas.PingChanges, Folders: []string{"1"}})
	expired, _ := eas.Marshal(&eas.PingResponse{Status: eas.PingExpired})
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+eas.Path, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
		w.Header().Set("Content-Type", eas.ContentType)
		t := time.NewTimer(1800 * time.Second)
		defer t.Stop()
		select {
		case <-wait(r.URL.Query().Get("User")):
			answered.Add(1)
			w.Write(changes)
		case <-t.C:
			w.Write(expired)
		case <-r.Context().Done():
		}
	})
	adminMux := http.NewServeMux()
	adminMux.HandleFunc("POST /deliver", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		mu.Lock()
		if ch := waits[user]; ch != nil {
			close(ch)
			delete(waits, user)
		}
		mu.Unlock()
	})
	adminMux.HandleFunc("GET /answered", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, answered.Load())
	})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		return err
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	adminSrv := &http.Server{Handler: adminMux, ReadHeaderTimeout: 5 * time.Second}
	go adminSrv.Serve(adminLn)
	go func() {
		<-ctx.Done()
		srv.Close()
		adminSrv.Close()
	}()
	ready(ln.Addr().String(), adminLn.Addr().String())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// server is a running child.
type server struct {
	kind         string
	https, admin string
	proc         Process
	deliver      func(ctx context.Context, user string) error
	// stop ends the server before the test does.
	stop func()
}

func startChild(t testing.TB, kind string, f fixture) *server {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+kind, childDir+"="+f.dir, childDB+"="+f.db)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	t.Cleanup(stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%s server did not start: %v", kind, err)
	}
	s := &server{kind: kind, proc: Process{PID: cmd.Process.Pid}, stop: stop}
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "https=%s admin=%s", &s.https, &s.admin); err != nil {
		t.Fatalf("%s server said %q: %v", kind, line, err)
	}
	if config, ok := pushcaKinds[kind]; ok {
		cfg, err := config(f.dir)
		if err != nil {
			t.Fatal(err)
		}
		token, err := ops.ReadToken(push.TokenPath(cfg.Dir))
		if err != nil {
			t.Fatal(err)
		}
		s.deliver = func(ctx context.Context, user string) error {
			_, err := ops.Deliver(ctx, "http://"+s.admin, token, ops.DeliverRequest{User: user, Subject: "load"})
			return err
		}
	} else {
		s.deliver = func(ctx context.Context, user string) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.admin+"/deliver?user="+user, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		}
	}
	return s
}

func (s *server) config(f fixture, devices, probes int) Config {
	return Config{
		URL: "https://" + s.https, ServerName: testHost, Roots: f.roots,
		Login: crowdUser, Password: password, ProbeLogin: probeLogin,
		Devices: devices, Probes: probes, Sources: Loopback(4),
		Deliver: func(ctx context.Context, _ int, user string) error { return s.deliver(ctx, user) },
		Server:  &s.proc, Provision: s.kind != "baseline",
		Settle:    func() error { return syscall.Kill(s.proc.PID, syscall.SIGUSR1) },
		Broadcast: s.profileBroadcast,
	}
}

// instancesConfig is the load of servers as endpoints of one server: the
// first's config with the others as Instances, each delivery through the
// endpoint Run names, and every process settled before its memory is read.
func instancesConfig(f fixture, servers []*server, devices, probes int) Config {
	cfg := servers[0].config(f, devices, probes)
	for _, s := range servers[1:] {
		cfg.Instances = append(cfg.Instances, Instance{URL: "https://" + s.https, Server: &s.proc})
	}
	cfg.Deliver = func(ctx context.Context, i int, user string) error { return servers[i].deliver(ctx, user) }
	cfg.Settle = func() error {
		for _, s := range servers {
			if err := syscall.Kill(s.proc.PID, syscall.SIGUSR1); err != nil {
				return err
			}
		}
		return nil
	}
	cfg.Broadcast = nil
	return cfg
}

// profileBroadcast profiles both ends of the broadcast when profileEnv is
// set: the child on SIGUSR2, the client here.
func (s *server) profileBroadcast() (done func()) {
	prefix := os.Getenv(profileEnv)
	if prefix == "" {
		return func() {}
	}
	if err := syscall.Kill(s.proc.PID, syscall.SIGUSR2); err != nil {
		fmt.Fprintln(os.Stderr, "profile the server:", err)
		return func() {}
	}
	stop, err := startProfile(prefix+"."+s.kind+".client", false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile the client:", err)
		stop = func() {}
	}
	return func() {
		stop()
		syscall.Kill(s.proc.PID, syscall.SIGUSR2)
	}
}

// answeredOn asks a baseline server how many Pings a delivery woke there.
func answeredOn(t *testing.T, s *server) int {
	t.Helper()
	resp, err := http.Get("http://" + s.admin + "/answered")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n int
	if _, err := fmt.Fscan(resp.Body, &n); err != nil {
		t.Fatalf("answered on %s: %v", s.admin, err)
	}
	return n
}
