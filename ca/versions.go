package ca

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"

	"github.com/smallstep/certificates/db"
	"github.com/smallstep/nosql/database"
	"go.step.sm/crypto/pemutil"
)

// version is one version directory, servers/HOST/SERIAL.
type version struct{ host, serial string }

// unrecorded lists the version directories of l whose serials are not in
// known: issuances interrupted (or still running) before their record was
// committed (see finish).
func unrecorded(l Layout, known map[string]bool) ([]version, error) {
	servers := filepath.Dir(l.ServerDir("x"))
	hosts, err := os.ReadDir(servers)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", servers, err)
	}
	var out []version
	for _, h := range hosts {
		if !h.IsDir() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(servers, h.Name()))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", filepath.Join(servers, h.Name()), err)
		}
		for _, e := range ents {
			// The "current" links are symlinks; a version is a directory
			// named by its decimal serial.
			if _, ok := new(big.Int).SetString(e.Name(), 10); ok && e.IsDir() && !known[e.Name()] {
				out = append(out, version{h.Name(), e.Name()})
			}
		}
	}
	return out, nil
}

// versionLeaf reads the certificate of a version directory from its
// certificate file or, written first, its chain (see writeVersion); nil
// when neither holds it.
func versionLeaf(l Layout, v version) *x509.Certificate {
	dir := l.ServerVersion(v.host, v.serial)
	for _, f := range []string{certFile, chainFile} {
		certs, err := pemutil.ReadCertificateBundle(filepath.Join(dir, f))
		if err == nil && len(certs) > 0 && certs[0].SerialNumber.String() == v.serial {
			return certs[0]
		}
	}
	return nil
}

// known reports whether serial is in the inventory or in step-ca's table.
func (inv *inventory) known(serial string) (bool, error) {
	for _, t := range [][]byte{inventoryTable, stepCertsTable} {
		_, err := inv.db.Get(t, []byte(serial))
		if err == nil {
			return true, nil
		}
		if !database.IsErrNotFound(err) {
			return false, fmt.Errorf("inventory: %w", err)
		}
	}
	return false, nil
}

// adoptVersion records the certificate of an unrecorded version directory
// as pending, with step-ca's record of it, in one transaction, for repair
// to finish or abandon like any pending record. A key file beside it means
// pushca generated the key: writeVersion makes the key durable before the
// certificate file, so a directory without one is a CSR's. It returns
// false when the directory holds no certificate: none was ever written
// anywhere, so nobody received it, and the directory is removed. The
// caller holds the host's lock.
func (c *CA) adoptVersion(v version) (adopted bool, err error) {
	cert := versionLeaf(c.layout, v)
	if cert == nil {
		if err := os.RemoveAll(c.layout.ServerVersion(v.host, v.serial)); err != nil {
			return false, fmt.Errorf("remove the partial files of serial %s: %w", v.serial, err)
		}
		return false, nil
	}
	family, ok := c.inv.issuers[hex.EncodeToString(cert.AuthorityKeyId)]
	if !ok {
		return false, fmt.Errorf("%s holds certificate %s, which no intermediate of this CA issued", c.layout.ServerVersion(v.host, v.serial), v.serial)
	}
	source := keyFromCSR
	if exists(filepath.Join(c.layout.ServerVersion(v.host, v.serial), keyFile)) {
		source = keyGenerated
	}
	rec := newRecord(cert, v.host, family, source, StatePending)
	if c.state.DB != "" {
		rec.Files = c.layout.owner()
	}
	tx := &txRecorder{DB: c.step.DB.DB}
	if err := (&db.DB{DB: tx}).StoreCertificateChain(nil, cert); err != nil {
		return false, fmt.Errorf("step-ca's record of serial %s: %w", v.serial, err)
	}
	if err := c.inv.putWith(tx.tx, rec); err != nil {
		return false, err
	}
	return true, nil
}
