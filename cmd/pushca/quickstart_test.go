package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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
	checkReach(t, dir, out, machineLAN(t))
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
	testtool.MustRun(t, nil, "curl", "-sSf", "--max-time", "30", "-o", served, "http://"+addrs["Enrollment URL"]+"/root.pem")
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
	ping := holdPing(t, addrs["ActiveSync URL"], root, strings.TrimSpace(string(pwd)))
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

// machineLAN are this machine's addresses that a phone on its network can
// dial, found independently of quickstart's code.
func machineLAN(t *testing.T) []string {
	t.Helper()
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var lan []string
	for _, a := range ifAddrs {
		ip := a.(*net.IPNet).IP
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || slices.Contains(lan, ip.String()) {
			continue
		}
		lan = append(lan, ip.String())
	}
	return lan
}

// checkReach checks what quickstart, listening on loopback, printed and
// issued against lan, the addresses its machine has: phones on its network
// reach it by those (it says so, and its certificates carry them), or by
// none when it has none (it says that instead); and no address a phone
// cannot dial is printed as the one to use.
func checkReach(t *testing.T, dir, out string, lan []string) {
	t.Helper()
	for _, bad := range []string{"[::]", "0.0.0.0"} {
		if strings.Contains(out, bad) {
			t.Errorf("quickstart printed %q, which no phone can dial:\n%s", bad, out)
		}
	}
	// Listening on loopback, the URLs are loopback's, not the bare host
	// name's that phones cannot resolve.
	for _, want := range []string{"Enrollment URL: http://127.0.0.1:", "ActiveSync URL: https://127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("quickstart did not print %q:\n%s", want, out)
		}
	}
	if len(lan) == 0 {
		if !strings.Contains(out, "no network address besides loopback, so no phone can reach it") {
			t.Errorf("no LAN address here, and quickstart did not say so:\n%s", out)
		}
		return
	}
	for _, want := range []string{"Phones on this machine's network reach it at ", "--host NAME", "The ActiveSync listener is on 127.0.0.1:", "which no phone can reach"} {
		if !strings.Contains(out, want) {
			t.Errorf("quickstart did not print %q:\n%s", want, out)
		}
	}
	leaves, err := filepath.Glob(filepath.Join(dir, "servers", "*", "current*", "cert.pem"))
	if err != nil || len(leaves) == 0 {
		t.Fatalf("server certificates: %v %v", leaves, err)
	}
	for _, ip := range lan {
		if !strings.Contains(out, ip) {
			t.Errorf("this machine's address %s is not printed:\n%s", ip, out)
		}
		for _, leaf := range leaves {
			cert, err := provision.ReadCertificates(leaf)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(cert[0].IPAddresses, net.ParseIP(ip).Equal) {
				t.Errorf("%s lacks the machine's address %s: %v", leaf, ip, cert[0].IPAddresses)
			}
		}
	}
}

// TestQuickstartOnAMachineWithoutANetwork runs quickstart where only
// loopback exists (a network namespace of its own): it says that no phone
// can reach the machine, and prints loopback URLs, not "[::]".
func TestQuickstartOnAMachineWithoutANetwork(t *testing.T) {
	testtool.Path(t, "unshare")
	testtool.Path(t, "ip")
	if _, _, err := testtool.Run(t, nil, "unshare", "-rn", "true"); err != nil {
		t.Skipf("no network namespace for this user: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "state")
	qs := startProcess(t, "unshare", nil, "-rn", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, pushcaBin,
		"--dir", dir, "quickstart", "--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	lines := qs.waitFor(t, func(l []string) bool { return len(printedCommands(l, "verify")) > 0 })
	qs.stop(t, syscall.SIGINT)
	checkReach(t, dir, strings.Join(lines, "\n"), nil)
	leaves, err := filepath.Glob(filepath.Join(dir, "servers", "*", "current*", "cert.pem"))
	if err != nil || len(leaves) == 0 {
		t.Fatalf("server certificates: %v %v", leaves, err)
	}
	for _, leaf := range leaves {
		cert, err := provision.ReadCertificates(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(cert[0].IPAddresses); got != "[127.0.0.1]" {
			t.Errorf("%s carries %s; want loopback's only", leaf, got)
		}
	}
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

// Clients and Microsoft's Remote Connectivity Analyzer try
// https://autodiscover.DOMAIN/ first: quickstart --host mail.example.com
// puts autodiscover.example.com into its certificates.
func TestQuickstartCertificateNamesAutodiscover(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	qs := startPushca(t, nil, "--dir", dir, "quickstart", "--host", "mail.example.com", "--profiles", "ios",
		"--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	qs.waitFor(t, func(l []string) bool { return len(printedCommands(l, "verify")) == 1 })
	qs.stop(t, syscall.SIGTERM)
	certs, err := provision.ReadCertificates(ca.Layout{Dir: dir}.ServerCert("mail.example.com", ca.Slot{}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(certs[0].DNSNames, "autodiscover.example.com") {
		t.Errorf("quickstart certificate names %v, not autodiscover.example.com", certs[0].DNSNames)
	}
}
