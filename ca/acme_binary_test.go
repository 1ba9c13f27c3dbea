package ca

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"

	"github.com/pushca/pushca/internal/acmetest"
	"github.com/pushca/pushca/profile"
)

// The step-ca binary on the legacy family's configuration serves ACME at
// /acme/legacy/directory: lego gets a SHA-1 leaf under the legacy
// intermediate, listed with source acme, and an ECDSA key and a wildcard
// are refused (less clearly than by `pushca acme serve`: step-ca reports
// the template's refusal as serverInternal and offers a wildcard no
// challenge).
func TestStepCABinaryServesACME(t *testing.T) {
	bin := stepCABinary(t)
	c := newCA(t, "legacy", "modern")
	dir, s, inter := c.layout.Dir, c.Slots()[0], c.issuers[0].inter
	c.Close()
	l := Layout{Dir: dir}
	port, http01 := freeLoopbackPort(t), freeLoopbackPort(t)
	cfg, err := readJSONMap(l.StepConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	cfg["address"] = "127.0.0.1:" + port
	if err := writeJSONMap(l.StepConfig(s), cfg); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "ca-password")
	if err := os.WriteFile(pw, testPassword, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// --insecure only lets --acme-http-port move http-01 off port 80.
	cmd := exec.CommandContext(ctx, bin, l.StepConfig(s), "--password-file", pw, "--insecure", "--acme-http-port", http01)
	cmd.Env = append(os.Environ(), "STEPPATH="+t.TempDir())
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	defer stop()
	client := &http.Client{Timeout: time.Minute, Transport: chainTransport(t, l, s)}
	base := "https://localhost:" + port
	for i := 0; ; i++ {
		if resp, err := client.Get(base + "/health"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("step-ca exited:\n%s", log)
		case <-time.After(100 * time.Millisecond):
		}
		if i == 300 {
			t.Fatalf("step-ca not healthy after 30 s:\n%s", log)
		}
	}
	order := func(key certcrypto.KeyType, name string) acmetest.Order {
		return acmetest.Order{Directory: base + "/acme/legacy/directory", Client: client,
			Challenge: "http-01", Port: http01, Key: key, Names: []string{name}}
	}
	res, err := acmetest.Obtain(t, order(certcrypto.RSA2048, "localhost"))
	if err != nil {
		t.Fatalf("lego on step-ca: %v\n%s", err, log)
	}
	leaf := acmetest.Chain(t, res.Certificate)[0]
	if err := profile.CheckSignedBy(leaf, inter); err != nil || leaf.SignatureAlgorithm != x509.SHA1WithRSA {
		t.Errorf("leaf signed with %v: %v; want SHA-1 by the legacy intermediate", leaf.SignatureAlgorithm, err)
	}
	for _, o := range []acmetest.Order{order(certcrypto.EC256, "localhost"), order(certcrypto.RSA2048, "*.localhost")} {
		if _, err := acmetest.Obtain(t, o); err == nil {
			t.Errorf("step-ca issued %v with a %s key under legacy", o.Names, o.Key)
		} else {
			t.Logf("step-ca refuses %v (%s): %v", o.Names, o.Key, err)
		}
	}
	stop()
	r, err := OpenReader(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.inv.get(leaf.SerialNumber.String())
	if err != nil || rec.Source != SourceACME || rec.Family != "legacy" {
		t.Errorf("step-ca's ACME certificate listed as %+v (%v)", rec, err)
	}
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
