package acmetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/http01"
	"github.com/go-acme/lego/v4/challenge/tlsalpn01"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/registration"
)

// Order is one certificate asked of an ACME directory.
type Order struct {
	Directory string       // URL of the directory
	Client    *http.Client // trusting the ACME server's certificate
	// Challenge is "http-01" or "tls-alpn-01", answered by lego's own
	// server on 127.0.0.1:Port.
	Challenge, Port string
	Key             certcrypto.KeyType
	Names           []string
}

// Obtain registers a new account and runs the order with lego. Only a
// setup failure fails the test: the order's error is the caller's to read.
func Obtain(t testing.TB, o Order) (*certificate.Resource, error) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u := &user{key: key}
	cfg := lego.NewConfig(u)
	cfg.CADirURL, cfg.HTTPClient, cfg.Certificate.KeyType = o.Directory, o.Client, o.Key
	client, err := lego.NewClient(cfg)
	if err != nil {
		t.Fatalf("lego on %s: %v", o.Directory, err)
	}
	switch o.Challenge {
	case "http-01":
		err = client.Challenge.SetHTTP01Provider(http01.NewProviderServer("127.0.0.1", o.Port))
	case "tls-alpn-01":
		err = client.Challenge.SetTLSALPN01Provider(tlsalpn01.NewProviderServer("127.0.0.1", o.Port))
	default:
		t.Fatalf("lego: no challenge %q", o.Challenge)
	}
	if err != nil {
		t.Fatal(err)
	}
	if u.reg, err = client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		t.Fatalf("lego registration at %s: %v", o.Directory, err)
	}
	return client.Certificate.Obtain(certificate.ObtainRequest{Domains: o.Names, Bundle: true})
}

type user struct {
	key crypto.PrivateKey
	reg *registration.Resource
}

func (u *user) GetEmail() string                        { return "" }
func (u *user) GetRegistration() *registration.Resource { return u.reg }
func (u *user) GetPrivateKey() crypto.PrivateKey        { return u.key }

// Chain parses a PEM bundle, leaf first.
func Chain(t testing.TB, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return out
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}
