package load

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

// TestLoadAimedAtAnIPURLChecksTheIPSAN: `pushca load https://127.0.0.1:8443`
// names the server by address, which TLS never sends as SNI; the chain must
// be checked against that address's IP SAN, neither refused for an empty
// name nor accepted without a check.
func TestLoadAimedAtAnIPURLChecksTheIPSAN(t *testing.T) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root := testtool.Certificate(t, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "load test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, &rootKey.PublicKey, rootKey)
	leaf := func(ip net.IP) tls.Certificate {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		c := testtool.Certificate(t, &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mail.test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			DNSNames: []string{"mail.test"}, IPAddresses: []net.IP{ip},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}, root, &k.PublicKey, rootKey)
		return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}
	}
	for _, tc := range []struct {
		name string
		san  net.IP
		ok   bool
	}{
		{"the address's SAN", net.IPv4(127, 0, 0, 1), true},
		{"another address's SAN", net.IPv4(127, 0, 0, 9), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := handshakeWith(t, leaf(tc.san), tlsConfig([]*x509.Certificate{root}, "127.0.0.1"))
			if tc.ok && err != nil {
				t.Errorf("certificate for %s refused when dialing 127.0.0.1: %v", tc.san, err)
			}
			var herr x509.HostnameError
			if !tc.ok && !errors.As(err, &herr) {
				t.Errorf("certificate for %s, dialing 127.0.0.1: %v; want a host name error", tc.san, err)
			}
		})
	}
}

// handshakeWith runs one TLS handshake against a 127.0.0.1 listener serving
// cert and returns the client's error.
func handshakeWith(t *testing.T, cert tls.Certificate, client *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.(*tls.Conn).Handshake()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := tls.Dialer{Config: client}
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		c.Close()
	}
	return err
}
