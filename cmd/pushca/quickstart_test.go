package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/provision"
)

// TestQuickstartThroughTheBinary runs quickstart in an empty directory,
// checks what it printed against curl, openssl and zbarimg, runs the
// verify and push commands it printed (push while a wm5 device holds a
// Ping), stops it with SIGINT, and runs it again on the same state.
func TestQuickstartThroughTheBinary(t *testing.T) {
	testtool.Path(t, "curl")
	testtool.Path(t, "openssl")
	testtool.Path(t, "zbarimg")
	dir := filepath.Join(t.TempDir(), "state")
	args := []string{"--dir", dir, "quickstart", "--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--heartbeat-min", "1"}

	qs := startPushca(t, nil, args...)
	lines := qs.waitFor(t, func(l []string) bool { return len(printedCommands(l, "verify")) == 2 })
	out := strings.Join(lines, "\n")
	for _, want := range []string{"created a CA in " + dir + ": one root, chain families legacy, modern", "quickstart/ca-password (0600)", "Test user: test, password ", "(shown once;", "Enrollment URL: http://", "ActiveSync URL: https://", "█▀"} {
		if !strings.Contains(out, want) {
			t.Errorf("quickstart did not print %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"quickstart/ca-password", "quickstart/test-password"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}

	// The fingerprint printed is the root's (openssl) and the one the
	// enrollment listener hands out (curl).
	root := ca.Layout{Dir: dir}.RootCert()
	sha := printedValue(t, lines, "  SHA-256 ")
	fp := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", root, "-noout", "-fingerprint", "-sha256"))
	if !strings.Contains(fp, "="+sha) {
		t.Errorf("printed SHA-256 %s, openssl says %s", sha, fp)
	}
	addrs := listenAddrs(lines)
	served := filepath.Join(t.TempDir(), "root.pem")
	testtool.MustRun(t, nil, "curl", "-sSf", "--max-time", "30", "-o", served, "http://"+addrs["Enrollment"]+"/root.pem")
	if fp2 := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", served, "-noout", "-fingerprint", "-sha256")); fp2 != fp {
		t.Errorf("enrollment listener serves %s, the root is %s", fp2, fp)
	}
	// The sample bundle's sheet carries the enrollment URL printed.
	enroll := strings.Fields(printedValue(t, lines, "Enrollment URL: "))[0]
	if got := strings.TrimSpace(string(testtool.MustRun(t, nil, "zbarimg", "--raw", "-q", filepath.Join(dir, "quickstart/bundle/users/test/qr.png")))); got != enroll {
		t.Errorf("bundle QR holds %q, enrollment URL is %q", got, enroll)
	}

	// The sample user has every kind of device of the mixed fleet.
	for _, f := range []string{"account.cab", "exchange.mobileconfig"} {
		if _, err := os.Stat(filepath.Join(dir, "quickstart/bundle/users/test", f)); err != nil {
			t.Errorf("sample bundle: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "quickstart/bundle/shared/root.crt")); err != nil {
		t.Errorf("sample bundle: %v", err)
	}

	// One verify per chain family, each passing as its devices would.
	verifies := printedCommands(lines, "verify")
	if len(verifies) != 2 || !slices.Contains(verifies[0], "wm5") || !slices.Contains(verifies[1], "ios") {
		t.Fatalf("printed verify commands: %q", verifies)
	}
	for _, v := range verifies {
		verifyOut := mustPushca(t, nil, v...)
		if !strings.Contains(verifyOut, "PASS  push") || !strings.Contains(verifyOut, " 0 warnings, 0 failed") {
			t.Errorf("printed verify command %q:\n%s", v, verifyOut)
		}
	}

	// A device holds a Ping; the printed push command answers it.
	pwd, err := os.ReadFile(filepath.Join(dir, "quickstart/test-password"))
	if err != nil {
		t.Fatal(err)
	}
	ping := holdPing(t, addrs["ActiveSync"], root, strings.TrimSpace(string(pwd)))
	if got := mustPushca(t, nil, printedCommand(lines, "push")...); !strings.Contains(got, "delivered") {
		t.Errorf("printed push command: %s", got)
	}
	if r := <-ping; r.err != nil || r.resp.Status != eas.PingChanges {
		t.Errorf("held Ping after the push: %+v", r)
	}
	qs.stop(t, syscall.SIGINT)

	again := startPushca(t, nil, args...)
	lines = again.waitFor(t, func(l []string) bool { return len(printedCommands(l, "verify")) == 2 })
	out = strings.Join(lines, "\n")
	if printedValue(t, lines, "  SHA-256 ") != sha || strings.Contains(out, "created a") || strings.Contains(out, "issued the") ||
		!strings.Contains(out, "Test user: test, password in "+dir) {
		t.Errorf("second run did not reuse the state:\n%s", out)
	}
	again.stop(t, syscall.SIGINT)
}

// printedCommands are the "pushca ... NAME ..." lines quickstart printed
// to try next, as arguments for the test's binary.
func printedCommands(lines []string, name string) [][]string {
	var out [][]string
	for _, l := range lines {
		cmd, _, _ := strings.Cut(strings.TrimSpace(l), "#")
		f := strings.Fields(cmd)
		if len(f) > 3 && f[0] == "pushca" && slices.Contains(f[:4], name) {
			out = append(out, f[1:])
		}
	}
	return out
}

// printedCommand is the first of printedCommands, nil when there is none.
func printedCommand(lines []string, name string) []string {
	if cs := printedCommands(lines, name); len(cs) > 0 {
		return cs[0]
	}
	return nil
}

func printedValue(t *testing.T, lines []string, prefix string) string {
	t.Helper()
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	t.Fatalf("no line starting %q in\n%s", prefix, strings.Join(lines, "\n"))
	return ""
}

type pingResult struct {
	resp *eas.PingResponse
	err  error
}

// holdPing is a Windows Mobile 5 device of the test user on addr: it
// syncs its Inbox, holds a 60 s Ping and returns once the request is
// written; the channel gets the answer.
func holdPing(t *testing.T, addr, rootFile, password string) <-chan pingResult {
	t.Helper()
	p, err := profile.Get("wm5")
	if err != nil {
		t.Fatal(err)
	}
	roots, err := provision.ReadCertificates(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	// Go refuses the SHA-1 chain a wm5 CA issues; the profile checks it.
	tlsConf := &tls.Config{
		ServerName: "localhost", MinVersion: p.MinTLS, MaxVersion: p.MaxTLS, CipherSuites: p.Suites, InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return errors.Join(p.VerifyChain(cs.PeerCertificates, roots[0], "localhost", time.Now())...)
		},
	}
	_, port, _ := net.SplitHostPort(addr)
	c := &eas.Client{
		HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}, URL: "https://localhost:" + port,
		Login: `CORP\test`, Password: password, DeviceID: "QUICKSTARTTEST", DeviceType: "PocketPC", Version: p.EASVersion, AutoProvision: true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), eas.PingTimeout(time.Minute))
	fs, err := c.FolderSync(ctx, eas.InitialSyncKey)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	inbox := ""
	for _, f := range fs.Changes.Add {
		if f.Type == eas.FolderInbox {
			inbox = f.ServerID
		}
	}
	key, yes := eas.InitialSyncKey, true
	for range 10 { // prime, then fetch what verify delivered
		col := eas.SyncCollection{SyncKey: key, CollectionID: inbox, Class: "Email"}
		if key != eas.InitialSyncKey {
			col.GetChanges, col.WindowSize = &yes, 50
		}
		r, err := c.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{col}})
		if err != nil || len(r.Collections) != 1 || r.Collections[0].Status != eas.SyncOK {
			cancel()
			t.Fatalf("Sync: %+v %v", r, err)
		}
		key = r.Collections[0].SyncKey
		if col.GetChanges != nil && !r.Collections[0].MoreAvailable {
			break
		}
	}
	wrote := make(chan struct{})
	var once sync.Once
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) }})
	res := make(chan pingResult, 1)
	go func() {
		defer cancel()
		r, err := c.Ping(ctx, &eas.PingRequest{HeartbeatInterval: 60, Folders: []eas.PingFolder{{ID: inbox, Class: "Email"}}})
		res <- pingResult{r, err}
	}()
	select {
	case <-wrote:
	case r := <-res:
		t.Fatalf("Ping answered before the push: %+v", r)
	}
	return res
}
