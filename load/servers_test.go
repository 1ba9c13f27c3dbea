package load

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
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push"
)

// The servers under load run in child processes (this test binary run
// again), so their /proc figures hold the server alone.
const (
	childEnv = "PUSHCA_LOAD_CHILD" // "pushca" or "baseline"
	childDir = "PUSHCA_LOAD_DIR"
	// profileEnv names a file prefix: each server's CPU profile and
	// runtime trace, and the client's CPU profile, over the broadcast.
	profileEnv = "PUSHCA_LOAD_PROFILE"
	testHost   = "mail.test"
	crowdUser  = "bench"
	password   = "bench password"
	caPassword = "load test CA"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "pushca":
		os.Exit(child(runPushca))
	case "baseline":
		os.Exit(child(runBaseline))
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: want pushca or baseline\n", childEnv, os.Getenv(childEnv))
		os.Exit(2)
	}
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

// fixture is what both servers serve: an RSA chain from a wm6 CA and an
// ECDSA chain from a modern one, side by side, and the users.
type fixture struct {
	dir   string
	roots []*x509.Certificate
	pairs []push.KeyPair
}

func newFixture(t testing.TB, probes int) fixture {
	t.Helper()
	ctx := context.Background()
	f := fixture{dir: t.TempDir()}
	for _, p := range servedNames {
		dir := filepath.Join(f.dir, p)
		if err := ca.Init(ctx, dir, ca.InitOptions{Profile: p, Password: []byte(caPassword)}); err != nil {
			t.Fatal(err)
		}
		authority, err := ca.Open(ctx, dir, []byte(caPassword))
		if err != nil {
			t.Fatal(err)
		}
		is, err := authority.Issue(ctx, ca.IssueRequest{Host: testHost, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			authority.Close()
			t.Fatal(err)
		}
		f.roots = append(f.roots, authority.Root())
		authority.Close()
		f.pairs = append(f.pairs, push.KeyPair{Cert: is.ChainFile, Key: is.KeyFile})
	}
	state := filepath.Join(f.dir, "state")
	if err := os.MkdirAll(filepath.Join(state, "push"), 0o700); err != nil {
		t.Fatal(err)
	}
	users, err := push.OpenUsers(push.UsersPath(state), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range append([]string{crowdUser}, probeNames(probes)...) {
		if err := users.Add(u, password); err != nil {
			t.Fatal(err)
		}
	}
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

// pairs reads the fixture's chains back in the child.
func childPairs(dir string) []push.KeyPair {
	var out []push.KeyPair
	for _, p := range servedNames {
		l := ca.Layout{Dir: filepath.Join(dir, p)}
		out = append(out, push.KeyPair{Cert: l.ServerChain(testHost), Key: l.ServerKey(testHost)})
	}
	return out
}

// servedNames are the CAs of the fixture, ECDSA first: Go's server takes
// the first certificate a client supports, and pushca prefers ECDSA too.
var servedNames = []string{"modern", "wm6"}

func servedProfiles() []profile.Profile {
	var out []profile.Profile
	for _, n := range servedNames {
		p, _ := profile.Get(n)
		out = append(out, p)
	}
	return out
}

func runPushca(ctx context.Context, dir string, ready func(https, admin string)) error {
	s, err := push.New(push.Config{
		Dir: filepath.Join(dir, "state"), Pairs: childPairs(dir), Profiles: servedProfiles(),
		HTTPSAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		BcryptCost: bcrypt.MinCost,
		Log:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	if err := s.Listen(ctx); err != nil {
		return err
	}
	ready(s.HTTPSAddr(), s.AdminAddr())
	return s.Serve(ctx)
}

// runBaseline is the yardstick: net/http and crypto/tls as anyone would
// write a long-poll server, with the same chains and suites but no
// authentication, protocol checks or device records. A Ping waits on its
// user's channel, which a delivery closes.
func runBaseline(ctx context.Context, dir string, ready func(https, admin string)) error {
	certs, err := push.LoadCertificates(childPairs(dir), servedProfiles(), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	cfg := push.TLSConfig(certs, servedProfiles())
	cfg.GetCertificate = nil
	for _, p := range childPairs(dir) {
		c, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if err != nil {
			return err
		}
		cfg.Certificates = append(cfg.Certificates, c)
	}
	var mu sync.Mutex
	waits := map[string]chan struct{}{}
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
}

func startChild(t testing.TB, kind string, f fixture) *server {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+kind, childDir+"="+f.dir)
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
	t.Cleanup(func() {
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
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%s server did not start: %v", kind, err)
	}
	s := &server{kind: kind, proc: Process{PID: cmd.Process.Pid}}
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "https=%s admin=%s", &s.https, &s.admin); err != nil {
		t.Fatalf("%s server said %q: %v", kind, line, err)
	}
	switch kind {
	case "pushca":
		token, err := push.ReadToken(push.TokenPath(filepath.Join(f.dir, "state")))
		if err != nil {
			t.Fatal(err)
		}
		s.deliver = func(ctx context.Context, user string) error {
			_, err := push.Deliver(ctx, "http://"+s.admin, token, push.DeliverRequest{User: user, Subject: "load"})
			return err
		}
	default:
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
		Deliver: s.deliver, Server: &s.proc, Provision: s.kind == "pushca",
		Settle:    func() error { return syscall.Kill(s.proc.PID, syscall.SIGUSR1) },
		Broadcast: s.profileBroadcast,
	}
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
