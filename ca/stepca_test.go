package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/cli-utils/token"
	"github.com/smallstep/cli-utils/token/provision"
	"go.step.sm/crypto/jose"
	"go.step.sm/crypto/x509util"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

// stepPeer is step-ca started in-process on one family's configuration the
// way `step-ca config/ca-FAMILY.json --password-file` starts it: the same
// validation, key decryption, database and provisioner, reached with a JWK
// token as `step ca certificate` makes one. The binary itself is tested in
// stepca_binary_test.go.
type stepPeer struct {
	a        *authority.Authority
	cfg      *config.Config
	key      *jose.JSONWebKey
	audience string
	stop     func()
}

func startStepPeer(t testing.TB, dir string, s Slot) *stepPeer {
	t.Helper()
	l := Layout{Dir: dir}
	cfg, err := config.LoadConfiguration(l.StepConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("step-ca rejects %s: %v", l.StepConfig(s), err)
	}
	a, err := authority.New(cfg, authority.WithPassword(testPassword), authority.WithQuietInit())
	if err != nil {
		t.Fatalf("step-ca cannot start on %s: %v", l.StepConfig(s), err)
	}
	// The database is exclusive: a test may stop one peer to start another.
	stop := sync.OnceFunc(func() { a.Shutdown() })
	t.Cleanup(stop)
	key := provisionerKey(t, cfg, l)
	_, port, _ := net.SplitHostPort(cfg.Address)
	return &stepPeer{a: a, cfg: cfg, key: key, audience: "https://localhost:" + port + "/1.0/sign", stop: stop}
}

// readRecords lists the inventory as `pushca cert list` reads it: without
// the CA password.
func readRecords(t *testing.T, dir string) []Record {
	t.Helper()
	r, err := OpenReader(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, err := r.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// provisionerKey is pushca's JWK provisioner key in a configuration,
// decrypted with the password pushca stored, after checking that the CA
// password does not decrypt it.
func provisionerKey(t testing.TB, cfg *config.Config, l Layout) *jose.JSONWebKey {
	t.Helper()
	var jwk *provisioner.JWK
	for _, p := range cfg.AuthorityConfig.Provisioners {
		if p, ok := p.(*provisioner.JWK); ok && p.Name == ProvisionerName {
			jwk = p
		}
	}
	if jwk == nil {
		t.Fatalf("no %s provisioner in %s", ProvisionerName, l.Dir)
	}
	if _, err := jose.Decrypt([]byte(jwk.EncryptedKey), jose.WithPassword(testPassword)); err == nil {
		t.Fatal("the provisioner key decrypts with the CA password, which step-ca publishes it for guessing")
	}
	pw := testtool.ReadFile(t, l.ProvisionerPassword())
	b, err := jose.Decrypt([]byte(jwk.EncryptedKey), jose.WithPassword(pw))
	if err != nil {
		t.Fatalf("provisioner key does not decrypt with %s: %v", l.ProvisionerPassword(), err)
	}
	key := new(jose.JSONWebKey)
	if err := json.Unmarshal(b, key); err != nil {
		t.Fatal(err)
	}
	return key
}

// jwkToken is a one-time token as `step ca token` makes it.
func jwkToken(t testing.TB, key *jose.JSONWebKey, audience, subject string, sans ...string) string {
	t.Helper()
	now := time.Now()
	opts := []token.Options{token.WithJWTID(rand.Text()), token.WithKid(key.KeyID), token.WithIssuer(ProvisionerName),
		token.WithAudience(audience), token.WithValidity(now, now.Add(5*time.Minute))}
	if len(sans) > 0 {
		opts = append(opts, token.WithSANS(sans))
	}
	tok, err := provision.New(subject, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ott, err := tok.SignedString(key.Algorithm, key.Key)
	if err != nil {
		t.Fatal(err)
	}
	return ott
}

// sign asks step-ca for a certificate as a JWK token holder can: the token
// carries the names, userData is what a client may add, and notAfter (when
// set) is the validity the client requests.
func (p *stepPeer) sign(t *testing.T, key crypto.Signer, names []string, userData string, notAfter time.Time) ([]*x509.Certificate, error) {
	t.Helper()
	ott := jwkToken(t, p.key, p.audience, names[0], names...)
	csr, err := x509util.CreateCertificateRequest(names[0], names, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := provisioner.NewContextWithMethod(context.Background(), provisioner.SignMethod)
	opts, err := p.a.Authorize(ctx, ott)
	if err != nil {
		return nil, err
	}
	so := provisioner.SignOptions{}
	if userData != "" {
		so.TemplateData = json.RawMessage(userData)
	}
	if !notAfter.IsZero() {
		so.NotAfter = provisioner.NewTimeDuration(notAfter)
	}
	return p.a.SignWithContext(ctx, csr, so, opts...)
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// step-ca on a family's configuration issues what pushca's own self-check
// accepts, and refuses what the family's devices would: the key types,
// wildcards and lifetimes of the family, whatever a token holder asks for.
func TestStepCAOnEachFamilyIssuesByItsRules(t *testing.T) {
	c := newCA(t, "legacy", "modern")
	dir, root, slots := c.layout.Dir, c.root, c.Slots()
	inters := map[string]*x509.Certificate{}
	for _, is := range c.issuers {
		inters[is.family.Name] = is.inter
	}
	c.Close()
	for _, s := range slots {
		t.Run(s.Family, func(t *testing.T) {
			f, _ := profile.GetFamily(s.Family)
			r := rulesOf(f)
			p := startStepPeer(t, dir, s)
			var good crypto.Signer = ecKey(t)
			if !f.Legacy {
				// ECDSA is the family's key; a token holder may still use RSA.
				if _, err := p.sign(t, rsaKey(t, 2048), []string{"rsa.example.com"}, "", time.Time{}); err != nil {
					t.Errorf("RSA 2048 key under %s refused: %v", f.Name, err)
				}
			} else {
				good = rsaKey(t, 2048)
			}
			// A token's user data must not change the signature algorithm.
			chain, err := p.sign(t, good, []string{"mail.example.com"}, `{"signatureAlgorithm":"SHA256-RSA"}`, time.Time{})
			if err != nil {
				t.Fatalf("step-ca refused a good request: %v", err)
			}
			leaf := chain[0]
			if errs := r[0].VerifyChain([]*x509.Certificate{leaf, inters[f.Name]}, root, "mail.example.com", time.Now()); len(errs) > 0 {
				t.Errorf("pushca's self-check refuses step-ca's leaf: %v", errs)
			}
			for _, p := range r[1:] {
				if errs := p.Check(leaf, profile.Leaf); len(errs) > 0 {
					t.Errorf("profile %s refuses step-ca's leaf: %v", p.Name, errs)
				}
			}
			if leaf.SignatureAlgorithm != f.Signature {
				t.Errorf("signature %v, the family signs with %v", leaf.SignatureAlgorithm, f.Signature)
			}
			if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Errorf("extended key usage %v, want server auth only", leaf.ExtKeyUsage)
			}
			for _, ext := range leaf.Extensions {
				if ext.Id.String() == "1.3.6.1.4.1.37476.9000.64.1" {
					t.Error("leaf carries smallstep's provisioner extension, which pushca's leaves do not")
				}
			}
			if f.Legacy {
				if _, err := p.sign(t, ecKey(t), []string{"ec.example.com"}, "", time.Time{}); err == nil || !strings.Contains(err.Error(), "RSA keys only") {
					t.Errorf("ECDSA key under %s: %v", f.Name, err)
				}
				if _, err := p.sign(t, rsaKey(t, 1024), []string{"small.example.com"}, "", time.Time{}); err == nil {
					t.Error("RSA 1024 key accepted")
				}
				if _, err := p.sign(t, rsaKey(t, 2048), []string{"*.example.com"}, "", time.Time{}); err == nil || !strings.Contains(err.Error(), "exact names only") {
					t.Errorf("wildcard under a family whose devices match exact names only: %v", err)
				}
			} else if _, err := p.sign(t, ecKey(t), []string{"*.example.com"}, "", time.Time{}); err != nil {
				t.Errorf("wildcard refused under %s, whose devices match them: %v", f.Name, err)
			}
			if f.MaxLeafDays == 0 {
				return
			}
			cap := time.Duration(f.MaxLeafDays) * 24 * time.Hour
			if _, err := p.sign(t, good, []string{"long.example.com"}, "", time.Now().Add(cap+time.Hour)); err == nil {
				t.Errorf("a leaf over %d days issued", f.MaxLeafDays)
			}
			// The longest leaf step-ca grants, backdate included, is within the cap.
			chain, err = p.sign(t, good, []string{"max.example.com"}, "", time.Now().Add(cap-stepBackdate-2*time.Second))
			if err != nil {
				t.Fatalf("longest permitted leaf refused: %v", err)
			}
			if d := chain[0].NotAfter.Sub(chain[0].NotBefore); d > cap {
				t.Errorf("NotAfter - NotBefore = %s, over the %d-day cap", d, f.MaxLeafDays)
			}
		})
	}
}

// A directory made before the provisioner had a password of its own (its
// key encrypted with the CA password, testdata/format1-wm5) gets a new key
// and password on its first signing open; what an operator added to ca.json
// stays.
func TestOldProvisionerKeyIsReplaced(t *testing.T) {
	dir, pw := copyFixture(t, "format1-wm5")
	l := Layout{Dir: dir}
	cfg, err := readJSONMap(l.StepConfig(Slot{}))
	if err != nil {
		t.Fatal(err)
	}
	cfg["address"] = "127.0.0.1:9443"
	if err := writeJSONMap(l.StepConfig(Slot{}), cfg); err != nil {
		t.Fatal(err)
	}
	old := findJWK(cfg)
	if _, err := jose.Decrypt([]byte(old.EncryptedKey), jose.WithPassword(pw)); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	c, err := Open(context.Background(), dir, pw)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	cfg, err = readJSONMap(l.StepConfig(Slot{}))
	if err != nil {
		t.Fatal(err)
	}
	jwk := findJWK(cfg)
	if jwk == nil || jwk.Key.KeyID == old.Key.KeyID {
		t.Fatal("provisioner key not replaced")
	}
	if _, err := jose.Decrypt([]byte(jwk.EncryptedKey), jose.WithPassword(pw)); err == nil {
		t.Error("new provisioner key decrypts with the CA password")
	}
	if _, err := jose.Decrypt([]byte(jwk.EncryptedKey), jose.WithPassword(testtool.ReadFile(t, l.ProvisionerPassword()))); err != nil {
		t.Errorf("new key does not decrypt with %s: %v", l.ProvisionerPassword(), err)
	}
	if cfg["address"] != "127.0.0.1:9443" {
		t.Errorf("operator's address lost: %v", cfg["address"])
	}
	if fi, err := os.Stat(l.ProvisionerPassword()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v %v", l.ProvisionerPassword(), fi.Mode(), err)
	}
}

// A copied state directory is self-contained: rotating the intermediate in
// the copy leaves the original's files alone, and step-ca's configuration
// in each names its own key, so step-ca on the original still signs with
// the original intermediate.
func TestCopiedDirectoryIsSelfContained(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy")
	orig := c.layout.Dir
	origInter := c.issuers[0].inter
	c.Close()
	cp := filepath.Join(t.TempDir(), "copy")
	testtool.MustRun(t, nil, "cp", "-a", orig, cp)
	before := snapshot(t, orig)
	c2, err := Open(ctx, cp, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.RotateIntermediate(ctx, testPassword, 0); err != nil {
		t.Fatal(err)
	}
	copyInter := c2.issuers[0].inter
	c2.Close()
	sameSnapshot(t, before, snapshot(t, orig))
	for dir, want := range map[string]*x509.Certificate{orig: origInter, cp: copyInter} {
		p := startStepPeer(t, dir, Slot{Family: "legacy"})
		chain, err := p.sign(t, rsaKey(t, 2048), []string{"step.example.com"}, "", time.Time{})
		if err != nil {
			t.Fatalf("step-ca on %s: %v", dir, err)
		}
		p.stop()
		if err := profile.CheckSignedBy(chain[0], want); err != nil {
			t.Errorf("step-ca on %s signed with another intermediate: %v", dir, err)
		}
	}
}

// What step-ca issues from the directory is in pushca's inventory, with its
// source and its family (told by the issuing intermediate, not the leaf's
// key), and pushca revokes it into that family's CRL.
func TestStepCAIssuedCertificatesAreInTheInventory(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy", "modern")
	dir, slots := c.layout.Dir, c.Slots()
	c.Close()
	p := startStepPeer(t, dir, slots[1])
	// An RSA key under the ECDSA modern intermediate: the leaf alone
	// would pass for modern-rsa.
	chain, err := p.sign(t, rsaKey(t, 2048), []string{"phone.example.com"}, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	serial := chain[0].SerialNumber.String()
	recs := readRecords(t, dir)
	var got *Record
	for i := range recs {
		if recs[i].Serial == serial {
			got = &recs[i]
		} else if recs[i].Source != SourcePushca {
			t.Errorf("pushca's own %s listed with source %q", recs[i].Serial, recs[i].Source)
		}
	}
	if got == nil {
		t.Fatalf("step-ca's certificate %s is not in cert list", serial)
	}
	if got.Source != SourceStepCA || got.Family != "modern" || got.Host != "phone.example.com" || got.State != StateActive {
		t.Errorf("listed as %+v", *got)
	}
	c, err = Open(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Revoke(ctx, serial, "superseded", 4); err != nil {
		t.Fatalf("pushca cannot revoke step-ca's certificate: %v", err)
	}
	l := c.layout
	if !crlLists(t, l.CRL(slots[1]), serial) || crlLists(t, l.CRL(slots[0]), serial) {
		t.Error("the revocation is not in the modern CRL alone")
	}
	if rec, err := c.inv.get(serial); err != nil || rec.State != StateRevoked || rec.Source != SourceStepCA {
		t.Errorf("after revoke: %+v %v", rec, err)
	}
}
