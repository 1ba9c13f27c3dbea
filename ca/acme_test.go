package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/certificates/authority/provisioner"
	"go.step.sm/crypto/x509util"

	"github.com/pushca/pushca/profile"
)

// acmeSign signs as step-ca's ACME finalize does (acme.Order.Finalize):
// the provisioner's sign options and its template over the CSR's names,
// for the validity the order was given.
func (p *stepPeer) acmeSign(t *testing.T, family string, key crypto.Signer, name string) ([]*x509.Certificate, error) {
	t.Helper()
	prov, err := p.a.LoadProvisionerByName(family)
	if err != nil {
		t.Fatalf("step-ca has no ACME provisioner %s: %v", family, err)
	}
	acme, ok := prov.(*provisioner.ACME)
	if !ok {
		t.Fatalf("provisioner %s is %T", family, prov)
	}
	// certbot's request: no subject, the name as its only SAN.
	csr, err := x509util.CreateCertificateRequest("", []string{name}, key)
	if err != nil {
		t.Fatal(err)
	}
	data := x509util.NewTemplateData()
	data.SetCommonName(csr.Subject.CommonName)
	data.SetSubjectAlternativeNames(x509util.SubjectAlternativeName{Type: x509util.DNSType, Value: name})
	ctx := provisioner.NewContextWithMethod(context.Background(), provisioner.SignMethod)
	opts, err := acme.AuthorizeSign(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := provisioner.CustomTemplateOptions(acme.GetOptions(), data, x509util.DefaultLeafTemplate)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return p.a.SignWithContext(ctx, csr, provisioner.SignOptions{
		NotBefore: provisioner.NewTimeDuration(now.Add(-stepBackdate)),
		NotAfter:  provisioner.NewTimeDuration(now.Add(acme.DefaultTLSCertDuration())),
	}, append(opts, tpl)...)
}

// Each family's step-ca configuration has an ACME provisioner named after
// the family, with the JWK provisioner's template and data, the family's
// claims and http-01 and tls-alpn-01; step-ca on that file signs an ACME
// order as the family's devices need and refuses what they would reject,
// and pushca lists the certificate with source acme.
func TestStepCAConfigServesACMEByTheFamilysRules(t *testing.T) {
	c := newCA(t, "legacy", "modern")
	dir, slots := c.layout.Dir, c.Slots()
	c.Close()
	serials := map[string]string{}
	for _, s := range slots {
		f, _ := profile.GetFamily(s.Family)
		p := startStepPeer(t, dir, s)
		var jwk, acme map[string]any
		cfg, err := readJSONMap(Layout{Dir: dir}.StepConfig(s))
		if err != nil {
			t.Fatal(err)
		}
		auth := cfg["authority"].(map[string]any)
		for _, p := range auth["provisioners"].([]any) {
			m := p.(map[string]any)
			switch {
			case m["type"] == "JWK" && m["name"] == ProvisionerName:
				jwk = m
			case m["type"] == "ACME" && m["name"] == f.Name:
				acme = m
			}
		}
		if acme == nil {
			t.Fatalf("%s: no ACME provisioner %s", Layout{Dir: dir}.StepConfig(s), f.Name)
		}
		same := func(what string, a, b any) {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) {
				t.Errorf("%s: ACME provisioner's %s differs:\n%s\n%s", f.Name, what, ja, jb)
			}
		}
		same("options (template and data)", acme["options"], jwk["options"])
		same("claims", acme["claims"], auth["claims"])
		same("challenges", acme["challenges"], []string{"http-01", "tls-alpn-01"})

		good := crypto.Signer(ecKey(t))
		if f.Legacy {
			good = rsaKey(t, 2048)
		}
		chain, err := p.acmeSign(t, f.Name, good, "acme.example.com")
		if err != nil {
			t.Fatalf("%s: ACME order refused: %v", f.Name, err)
		}
		leaf := chain[0]
		if leaf.SignatureAlgorithm != f.Signature || leaf.Subject.CommonName != "acme.example.com" || !slices.Equal(leaf.DNSNames, []string{"acme.example.com"}) {
			t.Errorf("%s: leaf %v, CN %q, names %v", f.Name, leaf.SignatureAlgorithm, leaf.Subject.CommonName, leaf.DNSNames)
		}
		for _, pr := range rulesOf(f) {
			if errs := pr.Check(leaf, profile.Leaf); len(errs) > 0 {
				t.Errorf("profile %s refuses step-ca's ACME leaf: %v", pr.Name, errs)
			}
		}
		serials[leaf.SerialNumber.String()] = f.Name
		if f.Legacy {
			if _, err := p.acmeSign(t, f.Name, ecKey(t), "ec.example.com"); err == nil || !strings.Contains(err.Error(), "RSA keys only") {
				t.Errorf("ECDSA key under legacy: %v", err)
			}
			if _, err := p.acmeSign(t, f.Name, rsaKey(t, 2048), "*.example.com"); err == nil || !strings.Contains(err.Error(), "exact names only") {
				t.Errorf("wildcard under legacy: %v", err)
			}
		}
		p.stop()
	}
	r, err := OpenReader(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, err := r.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if fam, ok := serials[rec.Serial]; ok {
			if rec.Source != SourceACME || rec.Family != fam || rec.Host != "acme.example.com" {
				t.Errorf("listed as %+v", rec)
			}
			delete(serials, rec.Serial)
		}
	}
	if len(serials) > 0 {
		t.Errorf("not in the inventory: %v", serials)
	}
}
