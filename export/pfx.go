package export

import (
	"fmt"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// pfxEncoder picks the PKCS#12 protection by name rather than through the
// library's Legacy and Modern aliases, which it may move to other
// algorithms: what Windows can import is the point of the format.
func pfxEncoder(f Format) *pkcs12.Encoder {
	if f == PFXLegacy {
		// PBE-SHA1-3DES for keys and certificates, HMAC-SHA-1 MAC: all that
		// Windows Server 2016 and older read (reference §2).
		return pkcs12.LegacyDES
	}
	// PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC, HMAC-SHA-256 MAC:
	// Windows Server 2019 and later.
	return pkcs12.Modern2023
}

// pfx is one chain and its key in a PKCS#12 file: the leaf, its key and the
// intermediate, not the root, which a server never sends.
func pfx(f Format, c Chain, password []byte) ([]byte, error) {
	b, err := pfxEncoder(f).Encode(c.Key, c.Leaf(), c.Certs[1:], string(password))
	if err != nil {
		return nil, fmt.Errorf("%s %s PKCS#12: %w", c.Family.Name, f, err)
	}
	return b, nil
}
