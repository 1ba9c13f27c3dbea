package export

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
)

const testHost = "mail.test"

// made holds one state directory per set of families, made once: RSA key
// generation under -race costs seconds, and no test here changes the CA.
var made = struct {
	sync.Mutex
	root string
	dirs map[string]string
}{dirs: map[string]string{}}

func TestMain(m *testing.M) {
	code := m.Run()
	if made.root != "" {
		os.RemoveAll(made.root)
	}
	os.Exit(code)
}

// stateDir returns a CA of the families named with a certificate for
// testHost in each.
func stateDir(t *testing.T, families ...string) string {
	t.Helper()
	made.Lock()
	defer made.Unlock()
	key := strings.Join(families, ",")
	if dir, ok := made.dirs[key]; ok {
		return dir
	}
	if made.root == "" {
		r, err := os.MkdirTemp("", "pushca-export-test-")
		if err != nil {
			t.Fatal(err)
		}
		made.root = r
	}
	dir := filepath.Join(made.root, fmt.Sprint(len(made.dirs)))
	ctx := context.Background()
	pw := []byte("export test CA password")
	if err := ca.Init(ctx, dir, ca.InitOptions{Families: families, Password: pw}); err != nil {
		t.Fatal(err)
	}
	authority, err := ca.Open(ctx, dir, pw)
	if err != nil {
		t.Fatal(err)
	}
	defer authority.Close()
	if _, err := authority.Issue(ctx, ca.IssueRequest{Host: testHost}); err != nil {
		t.Fatal(err)
	}
	made.dirs[key] = dir
	return dir
}

// readHost reads testHost from a CA of the families named.
func readHost(t *testing.T, families ...string) *Host {
	t.Helper()
	h, err := Read(context.Background(), stateDir(t, families...), testHost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// passwordFile writes pw for openssl's -passin file:.
func passwordFile(t *testing.T, pw string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// openssl runs openssl and returns stdout and stderr together (pkcs12
// -info prints the algorithms on stderr), failing the test on an error.
func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, errb, err := testtool.Run(t, nil, "openssl", args...)
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s%s", args, err, out, errb)
	}
	return string(out) + string(errb)
}
