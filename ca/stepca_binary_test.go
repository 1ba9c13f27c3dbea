package ca

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	gobuild "go/build"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/certificates/api"
	"github.com/smallstep/certificates/authority/config"
	stepca "github.com/smallstep/certificates/ca"
	"go.step.sm/crypto/jose"
	"go.step.sm/crypto/x509util"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

// stepCABinary is the step-ca that `make tools` builds from the module
// cache at go.mod's version into GOPATH/bin.
func stepCABinary(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(gobuild.Default.GOPATH, "bin", "step-ca"); fileExists(p) {
		return p
	}
	return testtool.Path(t, "step-ca")
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// runningStepCA is the step-ca binary serving one family of a directory on
// loopback, reached as `step ca certificate` reaches it.
type runningStepCA struct {
	url    string
	client *stepca.Client
	tr     http.RoundTripper
	key    *jose.JSONWebKey
	stop   func()
	log    *testtool.Buffer
}

// startStepCABinary starts step-ca on a family's configuration, on a free
// loopback port (an operator's edit of "address", which pushca keeps),
// with the CA password from a file and the provisioner password pushca
// stored. It stops by itself after two minutes at most.
func startStepCABinary(t *testing.T, dir string, s Slot, extra ...string) *runningStepCA {
	t.Helper()
	bin := stepCABinary(t)
	l := Layout{Dir: dir}
	port := testtool.FreePort(t)
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
	cmd := exec.CommandContext(ctx, bin, append([]string{l.StepConfig(s), "--password-file", pw}, extra...)...)
	cmd.Env = append(os.Environ(), "STEPPATH="+t.TempDir())
	log := &testtool.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := sync.OnceFunc(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		cancel()
	})
	t.Cleanup(stop)
	// localhost: the name step-ca's own certificate and token audience carry.
	url := "https://localhost:" + port
	tr := chainTransport(t, l, s)
	client, err := stepca.NewClient(url, stepca.WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := client.Health(); err == nil {
			break
		}
		select {
		case <-done:
			t.Fatalf("step-ca on %s exited:\n%s", l.StepConfig(s), log)
		case <-time.After(100 * time.Millisecond):
		}
		if i == 300 {
			t.Fatalf("step-ca on %s not healthy after 30 s:\n%s", l.StepConfig(s), log)
		}
	}
	loaded, err := config.LoadConfiguration(l.StepConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	return &runningStepCA{url: url, client: client, tr: tr, key: provisionerKey(t, loaded, l), stop: stop, log: log}
}

// chainTransport trusts step-ca's TLS certificate when it chains to the
// directory's root through the family's intermediate. Go's verifier refuses
// the SHA-1 signatures of the legacy family's chain, which step-ca signs
// its own certificate with; pushca's check reads them.
func chainTransport(t *testing.T, l Layout, s Slot) http.RoundTripper {
	t.Helper()
	root, err := readCert(l.RootCert())
	if err != nil {
		t.Fatal(err)
	}
	inter, err := readCert(l.IntermediateCert(s))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // verified below, SHA-1 included
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			leaf, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			if err := leaf.VerifyHostname("localhost"); err != nil {
				return err
			}
			if err := profile.CheckSignedBy(leaf, inter); err != nil {
				return err
			}
			return profile.CheckSignedBy(inter, root)
		},
	}}
}

func (s *runningStepCA) sign(t *testing.T, key crypto.Signer, names ...string) (*x509.Certificate, error) {
	t.Helper()
	tok := jwkToken(t, s.key, s.url+"/1.0/sign", names[0], names...)
	csr, err := x509util.CreateCertificateRequest(names[0], names, key)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.Sign(&api.SignRequest{CsrPEM: api.CertificateRequest{CertificateRequest: csr}, OTT: tok})
	if err != nil {
		return nil, err
	}
	return resp.ServerPEM.Certificate, nil
}

func (s *runningStepCA) revoke(t *testing.T, serial string) {
	t.Helper()
	tok := jwkToken(t, s.key, s.url+"/1.0/revoke", serial)
	if _, err := s.client.Revoke(&api.RevokeRequest{Serial: serial, OTT: tok, ReasonCode: 1, Reason: "key compromise", Passive: true}, nil); err != nil {
		t.Fatalf("step-ca revoke %s: %v\n%s", serial, err, s.log)
	}
}

// The real step-ca binary, built from go.mod's version, serves each family
// of a pushca directory by the family's rules; what it revokes, pushca
// sees, and pushca's next CRL is numbered above step-ca's last.
func TestStepCABinaryIsAPeer(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy", "modern")
	dir, slots, root := c.layout.Dir, c.Slots(), c.root
	c.Close()
	revoked := map[string]string{} // family -> serial revoked through step-ca
	for _, s := range slots {
		t.Run(s.Family, func(t *testing.T) {
			f, _ := profile.GetFamily(s.Family)
			sc := startStepCABinary(t, dir, s)
			defer sc.stop()
			var key crypto.Signer = ecKey(t)
			if f.Legacy {
				key = rsaKey(t, 2048)
			}
			leaf, err := sc.sign(t, key, "mail.example.com")
			if err != nil {
				t.Fatalf("step-ca refused a good request: %v\n%s", err, sc.log)
			}
			inter, _ := readCert(Layout{Dir: dir}.IntermediateCert(s))
			if errs := rulesOf(f)[0].VerifyChain([]*x509.Certificate{leaf, inter}, root, "mail.example.com", time.Now()); len(errs) > 0 {
				t.Errorf("pushca's self-check refuses step-ca's leaf: %v", errs)
			}
			if leaf.SignatureAlgorithm != f.Signature {
				t.Errorf("signature %v, want %v", leaf.SignatureAlgorithm, f.Signature)
			}
			if d := leaf.NotAfter.Sub(leaf.NotBefore); f.MaxLeafDays > 0 && d > time.Duration(f.MaxLeafDays)*24*time.Hour {
				t.Errorf("validity %s over the %d-day cap", d, f.MaxLeafDays)
			}
			if f.Legacy {
				if _, err := sc.sign(t, ecKey(t), "ec.example.com"); err == nil {
					t.Error("step-ca issued an ECDSA leaf under the legacy family")
				}
				if _, err := sc.sign(t, rsaKey(t, 2048), "*.example.com"); err == nil {
					t.Error("step-ca issued a wildcard under the legacy family")
				}
			}
			sc.revoke(t, leaf.SerialNumber.String())
			revoked[s.Family] = leaf.SerialNumber.String()
		})
	}
	recs := readRecords(t, dir)
	for family, serial := range revoked {
		found := false
		for _, rec := range recs {
			if rec.Serial == serial {
				found = true
				if rec.State != StateRevoked || rec.Source != SourceStepCA || rec.Family != family {
					t.Errorf("step-ca's revoked %s certificate listed as %s/%s/%s", family, rec.State, rec.Source, rec.Family)
				}
			}
		}
		if !found {
			t.Errorf("step-ca's %s certificate %s is not in cert list", family, serial)
		}
	}
	c, err := Open(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stepCRL, err := c.step.GetCRL()
	if err != nil {
		t.Fatalf("step-ca wrote no CRL on revocation: %v", err)
	}
	if _, err := c.CRL(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if !crlLists(t, c.layout.CRL(s), revoked[s.Family]) {
			t.Errorf("pushca's %s CRL does not list step-ca's revocation", s.Family)
		}
	}
	first := readCRL(c.layout.CRL(slots[0]))
	if first.Number.Int64() <= stepCRL.Number {
		t.Errorf("pushca's CRL #%d is not above step-ca's last, #%d", first.Number, stepCRL.Number)
	}
}
