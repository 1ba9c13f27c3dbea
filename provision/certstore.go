package provision

import (
	"crypto/x509"
	"encoding/base64"
)

// certificateStore puts the root into ROOT and the intermediates into CA.
// The server's leaf never goes in: a leaf in ROOT does not make a device
// trust the server.
func certificateStore(c Chain) (*characteristic, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	store := &characteristic{Type: "CertificateStore"}
	store.Children = append(store.Children, storeOf("ROOT", c.Root))
	if len(c.Intermediates) > 0 {
		store.Children = append(store.Children, storeOf("CA", c.Intermediates...))
	}
	return store, nil
}

func storeOf(name string, certs ...*x509.Certificate) *characteristic {
	s := &characteristic{Type: name}
	for _, c := range certs {
		entry := &characteristic{Type: SHA1(c).Plain()}
		entry.add("EncodedCertificate", base64.StdEncoding.EncodeToString(c.Raw))
		s.Children = append(s.Children, entry)
	}
	return s
}
