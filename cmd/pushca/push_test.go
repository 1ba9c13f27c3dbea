package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPushToAnAdminAddressOffThisMachineSendsNoToken: `pushca push --admin`
// with a remote address would carry the admin token over plain HTTP. An
// HTTP proxy from the environment, on loopback, stands in for the network:
// whatever the client sends towards the remote address reaches it.
func TestPushToAnAdminAddressOffThisMachineSendsNoToken(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(tok, []byte("the-admin-token-0123456789abcdef0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string // Authorization headers the "network" received
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.String()+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "proxy: no route", http.StatusBadGateway)
	})}
	go proxy.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		proxy.Shutdown(ctx)
	})
	env := []string{"HTTP_PROXY=http://" + ln.Addr().String(), "http_proxy=http://" + ln.Addr().String(), "NO_PROXY=", "no_proxy="}
	for _, admin := range []string{"192.0.2.10:8444", "[2001:db8::1]:8444", "admin.example.com:8444", "0.0.0.0:8444"} {
		r := runPushca(t, env, "push", "test", "--admin", admin, "--admin-token-file", tok)
		if r.code != exitUsage || !strings.Contains(r.stderr, "not a loopback address") {
			t.Errorf("push --admin %s: exit %d\n%s", admin, r.code, r.stderr)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Errorf("the admin token left the machine: %q", seen)
	}
}

func TestLoopbackAdmin(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8444", "127.3.2.1:1", "[::1]:8444", "localhost:8444", "LocalHost:8444", "[::ffff:127.0.0.1]:8444"} {
		if err := loopbackAdmin(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.5:8444", "[fe80::1%eth0]:8444", "localhost.example.com:8444", "127.0.0.1", ""} {
		if err := loopbackAdmin(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
