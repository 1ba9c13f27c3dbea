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
//
// No record names the directory until it is complete and linked (see
// finish), so the order of the files is what tells repair how far an
// interrupted issuance got (see adoptVersion): the chain first, the
// certificate's first trace, so that repair can revoke it; then the key,
// made durable before the certificate, so that a certificate without a key
// beside it is one issued from a CSR; the certificate last. Each file is
// fsynced before its rename, and the names by one fsync of the directory
// after the last file (two with a key); the directory's own name by the
// fsync of the host directory in activate, before a record points at it.
func (c *CA) writeVersion(host string, cert *x509.Certificate, key crypto.Signer, inter *x509.Certificate) error {
	hostDir := c.layout.ServerDir(host)
	newHost := !exists(hostDir)
	dir := c.layout.ServerVersion(host, cert.SerialNumber.String())
	if err := atomicfile.MkdirAll(dir); err != nil {
		return err
	}
	if newHost {
		// The host directory's name lives in servers/, which no later
		// fsync covers.
		if err := atomicfile.SyncDir(filepath.Dir(hostDir)); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteFileNoDirSync(filepath.Join(dir, chainFile), certsPEM(cert, inter), atomicfile.FileMode); err != nil {
		return err
	}
	if err := c.fail("recorded"); err != nil {
		return err
	}
	if key != nil {
		if err := writePlainKey(filepath.Join(dir, keyFile), key); err != nil {
			return err
		}
		if err := atomicfile.SyncDir(dir); err != nil {
			return err
		}
		if err := c.fail("key-written"); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteFileNoDirSync(filepath.Join(dir, certFile), certsPEM(cert), atomicfile.FileMode); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// versionComplete reports whether a version directory holds a certificate
// (and its key, when pushca generated it) that belong together.
func versionComplete(l Layout, r Record) bool {
	dir := l.ServerVersion(r.Host, r.Serial)
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

// switchCurrent points the "current" symlink of the host's family at
// serial, atomically: a new symlink under a temporary name renamed over the
// old one.
func (c *CA) switchCurrent(host string, s Slot, serial string) error {
	cur := c.layout.ServerCurrent(host, s)
	tmp := cur + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(serial, tmp); err != nil {
		return fmt.Errorf("switch %s to %s: %w", cur, serial, err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("switch %s to %s: %w", cur, serial, err)
	}
	return atomicfile.SyncDir(filepath.Dir(cur))
}
