package ca

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pushca/pushca/internal/atomicfile"
)

// writeVersion writes one certificate's files into its own directory. key is
// nil for certificates issued from a CSR: pushca never saw that key.
func (c *CA) writeVersion(host string, cert *x509.Certificate, key crypto.Signer) error {
	dir := c.layout.ServerVersion(host, cert.SerialNumber.String())
	if err := atomicfile.MkdirAll(dir); err != nil {
		return err
	}
	if key != nil {
		if err := writePlainKey(filepath.Join(dir, keyFile), key); err != nil {
			return err
		}
		if err := c.fail("key-written"); err != nil {
			return err
		}
	}
	if err := writeCerts(filepath.Join(dir, certFile), cert); err != nil {
		return err
	}
	return writeCerts(filepath.Join(dir, chainFile), cert, c.inter)
}

// versionComplete reports whether a version directory holds a certificate
// (and its key, when pushca generated it) that belong together.
func (c *CA) versionComplete(r Record) bool {
	dir := c.layout.ServerVersion(r.Host, r.Serial)
	cert, err := readCert(filepath.Join(dir, certFile))
	if err != nil || cert.SerialNumber.String() != r.Serial {
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, chainFile)); err != nil {
		return false
	}
	if r.KeySource == keyGenerated {
		k, err := readPlainKey(filepath.Join(dir, keyFile))
		if err != nil || !samePublicKey(cert, k) {
			return false
		}
	}
	return true
}

// switchCurrent points the host's "current" symlink at serial, atomically:
// a new symlink under a temporary name renamed over the old one.
func (c *CA) switchCurrent(host, serial string) error {
	cur := c.layout.ServerCurrent(host)
	tmp := cur + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(serial, tmp); err != nil {
		return fmt.Errorf("switch %s to %s: %w", cur, serial, err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("switch %s to %s: %w", cur, serial, err)
	}
	return syncDir(filepath.Dir(cur))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
