package ca

import (
	"context"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"

	"github.com/pushca/pushca/internal/acmetest"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

// The step-ca binary on the legacy family's configuration serves ACME at
// /acme/legacy/directory: lego gets a SHA-1 leaf under the legacy
// intermediate, listed with source acme, and an ECDSA key and a wildcard
// are refused (less clearly than by `pushca acme serve`: step-ca reports
// the template's refusal as serverInternal and offers a wildcard no
// challenge).
func TestStepCABinaryServesACME(t *testing.T) {
	c := newCA(t, "legacy", "modern")
	dir, s, inter := c.layout.Dir, c.Slots()[0], c.issuers[0].inter
	c.Close()
	// --insecure only lets --acme-http-port move http-01 off port 80.
	http01 := testtool.FreePort(t)
	sc := startStepCABinary(t, dir, s, "--insecure", "--acme-http-port", http01)
	client := &http.Client{Timeout: time.Minute, Transport: sc.tr}
	base, log := sc.url, sc.log
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
	sc.stop()
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
