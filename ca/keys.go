package ca

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.step.sm/crypto/keyutil"
	"go.step.sm/crypto/pemutil"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/profile"
)

// generateKey makes a key of the family's type.
func generateKey(f profile.Family) (crypto.Signer, error) {
	k, err := keyutil.GenerateSigner(f.KeyType, f.Curve, f.KeyBits)
	if err != nil {
		return nil, fmt.Errorf("generate %s key for chain family %s: %w", f.KeyType, f.Name, err)
	}
	return k, nil
}

// writeEncryptedKey stores a CA key as PKCS#8 encrypted with PBES2 (what
// step-ca's softkms reads), mode 0600, atomically.
func writeEncryptedKey(path string, key crypto.Signer, password []byte) error {
	if len(password) == 0 {
		return errors.New("a CA key needs a password: refusing to write it unencrypted")
	}
	blk, err := pemutil.Serialize(key, pemutil.WithPKCS8(true), pemutil.WithPassword(password))
	if err != nil {
		return fmt.Errorf("encrypt key %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, pem.EncodeToMemory(blk), atomicfile.FileMode)
}

// writePlainKey stores a server key unencrypted (a server must start
// unattended), mode 0600, atomically; its directory is synced by the caller
// (see writeVersion).
func writePlainKey(path string, key crypto.Signer) error {
	blk, err := pemutil.Serialize(key, pemutil.WithPKCS8(true))
	if err != nil {
		return fmt.Errorf("encode key %s: %w", path, err)
	}
	return atomicfile.WriteFileNoDirSync(path, pem.EncodeToMemory(blk), atomicfile.FileMode)
}

// ErrWrongPassword is returned when a CA key does not decrypt.
var ErrWrongPassword = errors.New("wrong CA password")

// readEncryptedKey decrypts a CA key, telling a wrong password apart from a
// damaged or missing file.
func readEncryptedKey(path string, password []byte) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("CA key %s is missing: the state directory is incomplete; restore it from backup", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read CA key %s: %w", path, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("CA key %s is damaged: no PEM block", path)
	}
	if blk.Type != "ENCRYPTED PRIVATE KEY" {
		return nil, fmt.Errorf("CA key %s is not encrypted (PEM type %q): refusing to use it", path, blk.Type)
	}
	der, err := pemutil.DecryptPKCS8PrivateKey(blk.Bytes, password)
	switch {
	case errors.Is(err, x509.IncorrectPasswordError):
		return nil, fmt.Errorf("CA key %s: %w", path, ErrWrongPassword)
	case err != nil:
		return nil, fmt.Errorf("CA key %s is damaged: %w", path, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// CBC padding catches a wrong key only about 255 times in 256;
		// otherwise the "plaintext" is noise. The envelope parsed, so a
		// wrong password is far likelier than damage to the ciphertext.
		return nil, fmt.Errorf("CA key %s: %w (or the key's encrypted bytes are damaged)", path, ErrWrongPassword)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key %s: %T is not a signing key", path, k)
	}
	return s, nil
}

func readPlainKey(path string) (crypto.Signer, error) {
	k, err := pemutil.Read(path)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key %s: %T is not a signing key", path, k)
	}
	return s, nil
}

func writeCerts(path string, certs ...*x509.Certificate) error {
	return atomicfile.WriteFile(path, certsPEM(certs...), atomicfile.FileMode)
}

// certsPEM encodes certificates for a file. Certificates are public, but the
// files are 0600 to keep the state directory uniform; packages copy what
// devices need.
func certsPEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func readCert(path string) (*x509.Certificate, error) {
	c, err := pemutil.ReadCertificate(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("certificate %s is missing: the state directory is incomplete", path)
		}
		return nil, fmt.Errorf("read certificate %s: %w", path, err)
	}
	return c, nil
}

// samePublicKey reports whether a key belongs to a certificate.
func samePublicKey(cert *x509.Certificate, key crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	return ok && pub.Equal(cert.PublicKey)
}
