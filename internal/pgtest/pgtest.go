package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushca/pushca/internal/testtool"
)

// Server is one running PostgreSQL. Its superuser is "pushca", trusted on
// loopback without a password.
type Server struct {
	Port string
	dir  string
}

// startTimeout bounds initdb and the wait for the server to accept
// connections; a cold initdb takes about two seconds here.
const startTimeout = time.Minute

// Start runs a new PostgreSQL server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binDir(t)
	// Not t.TempDir: its parents are private to root, and postgres refuses
	// to run as root.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cred := credential(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "pushca",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	s := &Server{Port: testtool.FreePort(t), dir: dir}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// Durability is off: the tests prove behaviour, not crash safety, and
	// fsyncs would make each one seconds slower.
	pg := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", s.Port,
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	pg.Stdout, pg.Stderr = logf, logf
	// Pdeathsig: a test binary killed by its timeout takes the server along.
	pg.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := pg.Start(); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- pg.Wait() }()
	t.Cleanup(func() {
		// SIGINT is PostgreSQL's fast shutdown: it ends sessions and stops.
		pg.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			pg.Process.Kill()
			<-exited
		}
	})
	if err := s.waitReady(ctx, exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		t.Fatalf("postgres on 127.0.0.1:%s: %v\n%s", s.Port, err, log)
	}
	return s
}

// DSN is the connection URL of database db on s (created on first use by
// whoever connects with it: smallstep's driver creates missing databases;
// CreateDB makes one explicitly).
func (s *Server) DSN(db string) string {
	u := url.URL{Scheme: "postgresql", User: url.User("pushca"), Host: "127.0.0.1:" + s.Port, Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDB creates database db and returns its DSN.
func (s *Server) CreateDB(t testing.TB, db string) string {
	t.Helper()
	s.Exec(t, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	return s.DSN(db)
}

// Exec runs one SQL statement as the superuser in database postgres.
func (s *Server) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (s *Server) waitReady(ctx context.Context, exited <-chan error) error {
	for {
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case e := <-exited:
			return fmt.Errorf("postgres exited: %v", e)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", startTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// binDir finds the server binaries: on PATH, or where Debian keeps them
// (/usr/lib/postgresql/VERSION/bin, off every PATH), the newest version.
func binDir(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p)
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	slices.SortFunc(found, func(a, b string) int { return version(b) - version(a) })
	if len(found) > 0 {
		return filepath.Dir(found[0])
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("PostgreSQL is required under CI=true but not installed (run `make tools`)")
	}
	t.Skip("PostgreSQL not installed; `make test` installs it")
	return ""
}

func version(bin string) int {
	v, _ := strconv.Atoi(strings.Split(strings.TrimPrefix(bin, "/usr/lib/postgresql/"), "/")[0])
	return v
}

// credential is whom postgres runs as: the current user, or when that is
// root (which postgres refuses) Debian's postgres user, given dir.
func credential(t testing.TB, dir string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root and no postgres user to run PostgreSQL as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
