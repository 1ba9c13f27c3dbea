package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
)

// exportHost is the name the servers below answer for; the test CA's
// certificates carry it and 127.0.0.1.
const exportHost = "mail.test"

// mixedCA makes, through the binary, a CA for Windows Mobile 6 and iPhones
// (legacy and modern families) with exportHost's certificates.
func mixedCA(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	mustPushca(t, passwordEnv(t, "export test"), "--dir", dir, "init", "--host", exportHost, "--profiles", "wm6,ios", "--ip", "127.0.0.1")
	return dir
}

// frontEnd is one server the export is loaded into: how to check its
// configuration and run it in the foreground on addr.
type frontEnd struct {
	tool   string
	format string
	// stop ends the server cleanly (exit 0).
	stop syscall.Signal
	// setup writes into work a full configuration, listening on addr,
	// around the files exported to out, and returns the arguments of the
	// check and of the run, and the environment both need.
	setup func(t *testing.T, work, out, addr string) (check, run, env []string)
}

var frontEnds = []frontEnd{
	{"nginx", "nginx", syscall.SIGTERM, func(t *testing.T, work, out, addr string) ([]string, []string, []string) {
		conf := writeConf(t, work, "nginx.conf", fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen %[2]s ssl;
        server_name %[3]s;
        include %[4]s;
        location / { return 200 "ok\n"; }
    }
}
`, work, addr, exportHost, filepath.Join(out, exportHost+".nginx.conf")))
		args := []string{"-p", work, "-e", filepath.Join(work, "error.log"), "-c", conf}
		return append([]string{"-t"}, args...), args, nil
	}},
	{"apache2", "apache", syscall.SIGTERM, func(t *testing.T, work, out, addr string) ([]string, []string, []string) {
		mods := "/usr/lib/apache2/modules"
		conf := writeConf(t, work, "httpd.conf", fmt.Sprintf(`ServerRoot %[1]s
ServerName %[3]s
PidFile %[1]s/httpd.pid
DefaultRuntimeDir %[1]s
ErrorLog %[1]s/error.log
LoadModule mpm_event_module %[5]s/mod_mpm_event.so
LoadModule authz_core_module %[5]s/mod_authz_core.so
LoadModule ssl_module %[5]s/mod_ssl.so
# Ignored unless started as root, which Apache refuses to serve as.
User nobody
Group nogroup
Listen %[2]s
<VirtualHost %[2]s>
    ServerName %[3]s
    Include %[4]s
</VirtualHost>
`, work, addr, exportHost, filepath.Join(out, exportHost+".apache.conf"), mods))
		return []string{"-t", "-f", conf}, []string{"-DFOREGROUND", "-f", conf}, nil
	}},
	// HAProxy dies of SIGTERM; SIGUSR1 is its clean stop.
	{"haproxy", "haproxy", syscall.SIGUSR1, func(t *testing.T, work, out, addr string) ([]string, []string, []string) {
		conf := writeConf(t, work, "haproxy.cfg", fmt.Sprintf(`global
    pidfile %[1]s/haproxy.pid
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend activesync
    bind %[2]s ssl crt-list %[3]s
    http-request return status 200 content-type text/plain string ok
`, work, addr, filepath.Join(out, exportHost+".crt-list")))
		args := []string{"-f", filepath.Join(out, exportHost+".haproxy.cfg"), "-f", conf}
		return append([]string{"-c"}, args...), append([]string{"-db"}, args...), []string{"OPENSSL_CONF=" + filepath.Join(out, exportHost+".openssl.cnf")}
	}},
}

// Each front end loads the export of a mixed CA as is, and answers a
// Windows Mobile 6 hello (TLS 1.0, RSA key exchange, no
// signature_algorithms) with the legacy SHA-1 chain and an iPhone's with
// the ECDSA one, as pushca verify sees them; a TLS 1.2 client offering
// both gets the ECDSA chain.
func TestExportServersServeBothChains(t *testing.T) {
	dir := mixedCA(t)
	root := ca.Layout{Dir: dir}.RootCert()
	for _, fe := range frontEnds {
		t.Run(fe.tool, func(t *testing.T) {
			bin := testtool.Path(t, fe.tool)
			work, out := t.TempDir(), filepath.Join(t.TempDir(), "export")
			mustPushca(t, nil, "--dir", dir, "cert", "export", exportHost, "--format", fe.format, "--out", out)
			addr := freeAddr(t)
			check, run, env := fe.setup(t, work, out, addr)
			o, e, err := runTool(t, bin, env, check...)
			if err != nil {
				t.Fatalf("%s %v: %v\n%s%s", fe.tool, check, err, o, e)
			}
			t.Logf("%s %s: %s%s", fe.tool, check[0], o, e)
			srv := startProcess(t, bin, env, run...)
			t.Cleanup(func() { syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL) }) // workers too
			waitListening(t, srv, addr)
			for profile, want := range map[string]string{"wm6": "legacy", "ios": "modern"} {
				family, version := verifyTLS(t, addr, root, profile)
				if family != want {
					t.Errorf("%s hello got the %s chain, want %s", profile, family, want)
				}
				if profile == "wm6" && version != "TLS 1.0" {
					t.Errorf("wm6 hello negotiated %s", version)
				}
			}
			if kt := tls12Leaf(t, addr); kt != "ECDSA" {
				t.Errorf("a TLS 1.2 client offering ECDSA and RSA got an %s leaf: the server's order should prefer ECDSA", kt)
			}
			srv.stop(t, fe.stop)
		})
	}
}

// Without what the export adds for the SHA-1 chain, nginx and HAProxy
// refuse to load it: the reason the snippets carry @SECLEVEL=0 and the
// OpenSSL configuration.
func TestExportLegacySettingsAreNeeded(t *testing.T) {
	dir := mixedCA(t)
	for _, fe := range frontEnds {
		if fe.tool == "apache2" {
			continue // mod_ssl applies SSLCipherSuite before loading certificates either way
		}
		t.Run(fe.tool, func(t *testing.T) {
			bin := testtool.Path(t, fe.tool)
			work, out := t.TempDir(), filepath.Join(t.TempDir(), "export")
			mustPushca(t, nil, "--dir", dir, "cert", "export", exportHost, "--format", fe.format, "--out", out)
			check, _, env := fe.setup(t, work, out, freeAddr(t))
			if fe.tool == "haproxy" {
				env = nil
			} else {
				snippet := filepath.Join(out, exportHost+".nginx.conf")
				b := testtool.ReadFile(t, snippet)
				if err := os.WriteFile(snippet, []byte(strings.ReplaceAll(string(b), ":@SECLEVEL=0", "")), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			o, e, err := runTool(t, bin, env, check...)
			msg := string(o) + string(e)
			if err == nil || !strings.Contains(msg, "ca md too weak") && !strings.Contains(msg, "unable to load SSL certificate") {
				t.Fatalf("%s accepted the SHA-1 chain without the legacy settings: %v\n%s", fe.tool, err, msg)
			}
			t.Logf("%s without the legacy settings: %s", fe.tool, msg)
		})
	}
}

func writeConf(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runTool runs a server's configuration check, bounded to a minute.
func runTool(t *testing.T, bin string, env []string, args ...string) ([]byte, []byte, error) {
	t.Helper()
	ch := startProcess(t, bin, env, args...)
	select {
	case <-ch.exited:
	case <-time.After(time.Minute):
		t.Fatalf("%s %v still running after a minute", bin, args)
	}
	return []byte(ch.stdout.String()), []byte(ch.stderr.String()), ch.err
}

// freeAddr is a loopback address with a port nobody listened on a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitListening waits, bounded, until addr accepts connections, failing
// when the server exits first.
func waitListening(t *testing.T, ch *child, addr string) {
	t.Helper()
	for range 300 {
		select {
		case <-ch.exited:
			t.Fatalf("%v exited: %v\nstdout: %s\nstderr: %s", ch.cmd.Args, ch.err, ch.stdout.String(), ch.stderr.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%v does not listen on %s after 30 s\nstderr: %s", ch.cmd.Args, addr, ch.stderr.String())
}

// verifyTLS runs pushca verify in its TLS-only mode (no --user) as a device
// of profile and returns the chain family and TLS version it saw, failing
// on any check but the ActiveSync one it skips.
func verifyTLS(t *testing.T, addr, root, profile string) (family, version string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	r := runPushca(t, nil, "verify", "https://"+exportHost+":"+port, "--connect", addr, "--root", root, "--profile", profile, "--json")
	var rep struct {
		TLS *struct {
			Family  string `json:"family"`
			Version string `json:"version"`
		} `json:"tls"`
		Checks []struct {
			Name    string `json:"name"`
			Verdict string `json:"verdict"`
			Detail  string `json:"detail"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify --profile %s: %v\n%s%s", profile, err, r.stdout, r.stderr)
	}
	for _, c := range rep.Checks {
		if c.Verdict != "pass" && c.Name != "activesync" {
			t.Errorf("verify --profile %s: %s %s: %s", profile, c.Name, c.Verdict, c.Detail)
		}
	}
	if rep.TLS == nil {
		t.Fatalf("verify --profile %s made no handshake:\n%s", profile, r.stdout)
	}
	return rep.TLS.Family, rep.TLS.Version
}

// tls12Leaf handshakes at TLS 1.2 offering ECDHE with RSA and ECDSA and
// returns the leaf's key type.
func tls12Leaf(t *testing.T, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{
		ServerName: exportHost, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
		// Only the leaf's key type matters here; verify checks the chain.
		InsecureSkipVerify: true,
		CipherSuites:       []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS 1.2 handshake with %s: %v", addr, err)
	}
	defer c.Close()
	if _, ok := c.(*tls.Conn).ConnectionState().PeerCertificates[0].PublicKey.(*ecdsa.PublicKey); ok {
		return "ECDSA"
	}
	return "RSA"
}

// The PFX password is asked for apart from the CA password: a CA password
// file in the environment never becomes it, and without a file or a
// terminal the export stops. No CA password is needed to export.
func TestExportPFXThroughTheBinary(t *testing.T) {
	dir := mixedCA(t)
	out := filepath.Join(t.TempDir(), "pfx")
	for _, env := range [][]string{nil, passwordEnv(t, "export test")} {
		r := runPushca(t, env, "--dir", dir, "cert", "export", exportHost, "--format", "pfx-legacy", "--out", out)
		if r.code != 1 || !strings.Contains(r.stderr, "no PFX password") {
			t.Errorf("pfx-legacy without a PFX password (env %v): exit %d %q", env, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused export created %s: %v", out, err)
	}
	pw := filepath.Join(t.TempDir(), "pfx.pw")
	if err := os.WriteFile(pw, []byte("pfx secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var files []struct{ Path, Family, Kind string }
	if err := json.Unmarshal([]byte(mustPushca(t, nil, "--dir", dir, "cert", "export", exportHost, "--format", "pfx", "--password-file", pw, "--out", out, "--json")), &files); err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Family != "legacy" || files[1].Family != "modern" {
		t.Fatalf("exported %+v", files)
	}
	for _, f := range files {
		if st, err := os.Stat(f.Path); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", f.Path, st.Mode(), err)
		}
		info := string(testtool.MustRun(t, nil, "openssl", "pkcs12", "-in", f.Path, "-passin", "file:"+pw, "-nokeys", "-clcerts"))
		if !strings.Contains(info, "CN = "+exportHost) {
			t.Errorf("%s: openssl reads no %s certificate:\n%s", f.Path, exportHost, info)
		}
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v, want 0700", out, st.Mode(), err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "jks"}, `unknown export format "jks"`},
		{nil, `"format"`},
		{[]string{"--format", "pem", "--family", "modern-rsa"}, "no modern-rsa chain family"},
		{[]string{"--format", "nginx", "--out", filepath.Join(t.TempDir(), "a b")}, "quote"},
	} {
		r := runPushca(t, nil, append([]string{"--dir", dir, "cert", "export", exportHost}, tc.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("export %v: exit %d %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
