package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
)

// TestServeThroughTheBinary runs what an administrator runs: init with a
// Windows Mobile profile, users add, serve on loopback, then curl, openssl
// and pushca push against it, and SIGTERM.
func TestServeThroughTheBinary(t *testing.T) {
	testtool.Path(t, "curl")
	testtool.Path(t, "openssl")
	dir := filepath.Join(t.TempDir(), "state") // init wants to create it
	mustPushca(t, passwordEnv(t, "ca password"), "--dir", dir, "init", "--host", "mail.test", "--profile", "wm6")
	pwFile := filepath.Join(t.TempDir(), "alice.pw")
	if err := os.WriteFile(pwFile, []byte("alice secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustPushca(t, nil, "--dir", dir, "users", "add", `CORP\Alice`, "--password-file", pwFile)
	var names []string
	if err := json.Unmarshal([]byte(mustPushca(t, nil, "--dir", dir, "users", "list", "--json")), &names); err != nil || len(names) != 1 || names[0] != "alice" {
		t.Fatalf("users list: %v %v", names, err)
	}
	if r := runPushca(t, nil, "--dir", dir, "users", "add", "bob"); r.code == 0 || !strings.Contains(r.stderr, "--password-file") {
		t.Fatalf("users add without a terminal or file: exit %d, %s", r.code, r.stderr)
	}

	srv, addrs := startServe(t, dir, "--host", "mail.test", "--profile", "wm6")
	https := addrs["ActiveSync"]
	port := https[strings.LastIndexByte(https, ':')+1:]
	root := ca.Layout{Dir: dir}.RootCert()

	hfile := filepath.Join(t.TempDir(), "headers")
	// SECLEVEL=0: OpenSSL 3 refuses the SHA-1 chain a wm6 CA issues, as a
	// modern client should; Windows Mobile accepts nothing else.
	testtool.MustRun(t, nil, "curl", "-sS", "--max-time", "30", "--ciphers", "DEFAULT:@SECLEVEL=0", "--cacert", root, "--resolve", "mail.test:"+port+":127.0.0.1",
		"-D", hfile, "-X", "OPTIONS", "-u", "alice@corp.example:alice secret", "https://mail.test:"+port+"/Microsoft-Server-ActiveSync")
	h, _ := os.ReadFile(hfile)
	if !strings.HasPrefix(string(h), "HTTP/1.1 200") || !strings.Contains(string(h), "MS-ASProtocolVersions: 2.5,12.0,12.1,14.0,14.1") {
		t.Fatalf("OPTIONS:\n%s", h)
	}
	// The chain pushca issued under wm6 (SHA-1, RSA) over TLS 1.0 with an
	// RSA key exchange, as the device would do it.
	out, errb, err := testtool.Run(t, []byte{}, "openssl", "s_client", "-connect", https, "-servername", "mail.test",
		"-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0", "-CAfile", root, "-verify_return_error")
	if err != nil || !strings.Contains(string(out), "Protocol  : TLSv1\n") {
		t.Fatalf("TLS 1.0 handshake: %v\n%s\n%s", err, out, errb)
	}
	if got := mustPushca(t, nil, "--dir", dir, "push", "alice", "--subject", "hello", "--admin", addrs["Admin API"]); !strings.Contains(got, "delivered") {
		t.Fatalf("push: %s", got)
	}
	if r := runPushca(t, nil, "--dir", dir, "push", "nobody", "--admin", addrs["Admin API"]); r.code == 0 || !strings.Contains(r.stderr, "no user nobody") {
		t.Fatalf("push to an unknown user: exit %d, %s", r.code, r.stderr)
	}
	out, _, err = testtool.Run(t, nil, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://"+addrs["Enrollment"]+"/Microsoft-Server-ActiveSync")
	if err != nil || string(out) != "403" {
		t.Fatalf("ActiveSync on plain HTTP: %s %v", out, err)
	}

	srv.stop(t, syscall.SIGTERM)
}

// TestServeRefusesNegativeDevicesPerUser: the per-user cap of device
// records and held Pings takes 0 (no cap) or more; a typo such as -1 is
// refused before anything is opened, not taken for "no cap".
func TestServeRefusesNegativeDevicesPerUser(t *testing.T) {
	r := runPushca(t, nil, "--dir", t.TempDir(), "serve", "--host", "mail.test", "--devices-per-user", "-1")
	if r.code == 0 || !strings.Contains(r.stderr, "--devices-per-user -1") {
		t.Fatalf("serve --devices-per-user -1: exit %d\n%s", r.code, r.stderr)
	}
}
