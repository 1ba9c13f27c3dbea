package load

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/pushca/pushca/profile"
)

// tlsConfig trusts exactly roots, checking every signature itself: Windows
// Mobile chains are SHA-1 signed, which crypto/x509 refuses to verify. What
// a device profile accepts is verify's business; here a chain only has to
// link to a root, carry the name and be valid now.
func tlsConfig(roots []*x509.Certificate, serverName string) *tls.Config {
	return &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			// serverName, not cs.ServerName: an IP address is never sent
			// as SNI, so the state holds "" and its IP SAN went unchecked.
			return checkChain(cs.PeerCertificates, roots, serverName, time.Now())
		},
	}
}

func checkChain(chain, roots []*x509.Certificate, host string, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("the server sent no certificate")
	}
	for i, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return fmt.Errorf("certificate %q is not valid now (%s to %s)", c.Subject, c.NotBefore, c.NotAfter)
		}
		if i+1 < len(chain) {
			if err := profile.CheckSignedBy(c, chain[i+1]); err != nil {
				return fmt.Errorf("certificate %q: %w", c.Subject, err)
			}
		}
	}
	if err := chain[0].VerifyHostname(host); err != nil {
		return err
	}
	top := chain[len(chain)-1]
	for _, r := range roots {
		if bytes.Equal(top.Raw, r.Raw) {
			return nil
		}
		if bytes.Equal(top.RawIssuer, r.RawSubject) && profile.CheckSignedBy(top, r) == nil {
			return nil
		}
	}
	return fmt.Errorf("certificate %q was not issued by a trusted root", top.Subject)
}
