package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/smallstep/nosql/database"

	"github.com/pushca/pushca/internal/atomicfile"
)

// The root's CRL lists revoked intermediates. With a CRL URL, every
// intermediate names it as its distribution point, so a client that checks
// the whole chain (openssl verify -crl_check_all, Windows CryptoAPI) finds a
// list signed by the intermediate's issuer, as RFC 5280 §6.3 requires. Only
// the root key signs it, so only commands given the CA password write it:
// `ca crl`, `ca revoke-intermediate` and init; serve publishes the file.

// rootCRLLifetime is long because nothing unattended can re-sign it: the
// root key is never kept in a running server. `ca check` reports it a month
// before it runs out.
const rootCRLLifetime = 365 * 24 * time.Hour

// rootCRLWarning is how early `ca check` reports a root CRL running out.
const rootCRLWarning = 30 * 24 * time.Hour

// RootCRLSuffix names the root's CRL beside the families' (crl-root.der,
// pushca-root.crl); no family is called "root".
const RootCRLSuffix = "-root"

// RootCRL is the root's latest CRL (DER).
func (l Layout) RootCRL() string { return l.path("certs", "crl"+RootCRLSuffix+".der") }

// RootCRLURL is the distribution point intermediates name: the CRL URL
// given at init with "-root" before its extension, "" without one.
func RootCRLURL(crlURL string) string { return crlURLWith(crlURL, RootCRLSuffix) }

// revokedCATable records revoked intermediates, by serial: the root CRL is
// made from it, so a lost CRL file never forgets one.
var revokedCATable = []byte("pushca_revoked_ca")

// RevokedCA is a revoked intermediate as the root CRL lists it.
type RevokedCA struct {
	Serial     string    `json:"serial"`
	Family     string    `json:"family"`
	Subject    string    `json:"subject"`
	NotAfter   time.Time `json:"notAfter"`
	RevokedAt  time.Time `json:"revokedAt"`
	Reason     string    `json:"reason,omitempty"`
	ReasonCode int       `json:"reasonCode"`
}

// RevokeIntermediate revokes an intermediate by serial: one archived by a
// rotation, or a family's current one when force is set (its family then
// issues nothing devices with revocation checking accept until it is
// rotated). It writes the root CRL at once.
func (c *CA) RevokeIntermediate(ctx context.Context, password []byte, serial, reason string, code int, force bool) (RevokedCA, CRLFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cert, family, err := c.findIntermediate(serial)
	if err != nil {
		return RevokedCA{}, CRLFile{}, err
	}
	for _, is := range c.issuers {
		if is.inter.SerialNumber.Cmp(cert.SerialNumber) == 0 && !force {
			return RevokedCA{}, CRLFile{}, fmt.Errorf("intermediate %s is the %s family's current issuer: rotate it first (`pushca ca rotate-intermediate --family %s`), then revoke %s; or give --force to revoke it in place", serial, family, family, serial)
		}
	}
	if _, err := c.inv.db.Get(revokedCATable, []byte(serial)); err == nil {
		return RevokedCA{}, CRLFile{}, fmt.Errorf("intermediate %s is already revoked", serial)
	}
	rec := RevokedCA{
		Serial: serial, Family: family, Subject: cert.Subject.String(), NotAfter: cert.NotAfter,
		RevokedAt: time.Now().UTC().Truncate(time.Second), Reason: reason, ReasonCode: code,
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return RevokedCA{}, CRLFile{}, err
	}
	if err := c.inv.db.Set(revokedCATable, []byte(serial), b); err != nil {
		return RevokedCA{}, CRLFile{}, fmt.Errorf("record revocation of intermediate %s: %w", serial, err)
	}
	f, err := c.rootCRL(ctx, password)
	return rec, f, err
}

// findIntermediate finds a current or archived intermediate by serial.
func (c *CA) findIntermediate(serial string) (*x509.Certificate, string, error) {
	if _, ok := new(big.Int).SetString(serial, 10); !ok {
		return nil, "", fmt.Errorf("intermediate serial %q: not a decimal number (see `pushca ca inspect`)", serial)
	}
	for _, is := range c.issuers {
		if is.inter.SerialNumber.String() == serial {
			return is.inter, is.family.Name, nil
		}
	}
	cert, err := readCert(c.layout.archivedCert(serial))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("no intermediate with serial %s in %s (see `pushca ca inspect`)", serial, c.layout.Dir)
	}
	if err != nil {
		return nil, "", err
	}
	f, err := familyOf(c.layout.archivedCert(serial))
	if err != nil {
		return nil, "", err
	}
	return cert, f, nil
}

// RootCRL signs the root's CRL again: the revoked intermediates and a new
// NextUpdate a year on.
func (c *CA) RootCRL(ctx context.Context, password []byte) (CRLFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rootCRL(ctx, password)
}

func (c *CA) rootCRL(ctx context.Context, password []byte) (CRLFile, error) {
	if err := ctx.Err(); err != nil {
		return CRLFile{}, err
	}
	unlock, err := c.lockCRL(ctx)
	if err != nil {
		return CRLFile{}, err
	}
	defer unlock()
	revoked, err := c.revokedCAs()
	if err != nil {
		return CRLFile{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	listed := map[string]bool{}
	var entries []x509.RevocationListEntry
	for _, r := range revoked {
		listed[r.Serial] = true
		if r.NotAfter.Before(now) {
			continue
		}
		sn, _ := new(big.Int).SetString(r.Serial, 10)
		entries = append(entries, x509.RevocationListEntry{SerialNumber: sn, RevocationTime: r.RevokedAt, ReasonCode: r.ReasonCode})
	}
	path := c.layout.RootCRL()
	prev := readCRL(path)
	if err := keepsRevocations(c.layout, "root", path, prev, listed); err != nil {
		return CRLFile{}, err
	}
	key, err := c.rootKey(password)
	if err != nil {
		return CRLFile{}, err
	}
	number := big.NewInt(1)
	if prev != nil && prev.Number != nil {
		number.Add(prev.Number, number)
	}
	if b, err := c.inv.db.Get(crlTable, []byte("root")); err == nil {
		if n, ok := new(big.Int).SetString(string(b), 10); ok && n.Cmp(number) >= 0 {
			number = n.Add(n, big.NewInt(1))
		}
	}
	der, err := signRootCRL(c.root, key, number, now, entries)
	if err != nil {
		return CRLFile{}, err
	}
	if err := c.inv.db.Set(crlTable, []byte("root"), []byte(number.String())); err != nil {
		return CRLFile{}, fmt.Errorf("record the root CRL number: %w", err)
	}
	if err := atomicfile.WriteFile(path, der, atomicfile.FileMode); err != nil {
		return CRLFile{}, err
	}
	return CRLFile{Path: path, DER: der}, nil
}

// signRootCRL signs a root CRL with the root's own signature algorithm, so
// a CA whose root Windows Mobile must accept stays SHA-1 throughout. It has
// no Issuing Distribution Point, unlike the families' CRLs: a client that
// checks the whole chain checks the root against it too, and the root
// names no distribution point that one could match (OpenSSL: "different
// CRL scope").
func signRootCRL(root *x509.Certificate, signer crypto.Signer, number *big.Int, now time.Time, entries []x509.RevocationListEntry) ([]byte, error) {
	tpl := &x509.RevocationList{
		Number: number, ThisUpdate: now, NextUpdate: now.Add(rootCRLLifetime),
		SignatureAlgorithm: root.SignatureAlgorithm, RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(rand.Reader, tpl, root, signer)
	if err != nil {
		return nil, fmt.Errorf("sign root CRL: %w", err)
	}
	return der, nil
}

// revokedCAs lists the revoked intermediates, by serial.
func (c *CA) revokedCAs() ([]RevokedCA, error) {
	return listRevokedCAs(c.layout, c.inv.db.List)
}

func listRevokedCAs(l Layout, list func([]byte) ([]*database.Entry, error)) ([]RevokedCA, error) {
	ents, err := list(revokedCATable)
	if err != nil && !database.IsErrNotFound(err) {
		return nil, fmt.Errorf("read revoked intermediates: %w", err)
	}
	out := make([]RevokedCA, 0, len(ents))
	for _, e := range ents {
		var r RevokedCA
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, damaged(l, "holds a revoked intermediate %q that is not valid JSON", e.Key)
		}
		if _, ok := new(big.Int).SetString(r.Serial, 10); !ok || r.Serial != string(e.Key) {
			return nil, damaged(l, "holds a revoked intermediate %q whose serial is %q", e.Key, r.Serial)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].Serial, out[j].Serial) < 0 })
	return out, nil
}
