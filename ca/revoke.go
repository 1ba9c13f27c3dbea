package ca

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/db"
	"github.com/smallstep/nosql/database"

	"github.com/pushca/pushca/internal/atomicfile"
)

// Reason codes of RFC 5280 section 5.3.1 that an operator may give.
var reasonCodes = map[string]int{
	"unspecified":          0,
	"keycompromise":        1,
	"cacompromise":         2,
	"affiliationchanged":   3,
	"superseded":           4,
	"cessationofoperation": 5,
}

// ReasonCode maps a reason name (case and dashes ignored) to its RFC 5280
// code.
func ReasonCode(name string) (int, error) {
	k := strings.ToLower(strings.ReplaceAll(name, "-", ""))
	if k == "" {
		return 0, nil
	}
	code, ok := reasonCodes[k]
	if !ok {
		return 0, fmt.Errorf("unknown revocation reason %q (valid: unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, cessation-of-operation)", name)
	}
	return code, nil
}

// Revoke revokes the certificate with the given serial, or the active
// certificates of a host name (in the families named, every family when
// none is), records why, and regenerates the CRLs. For key compromise it
// also revokes every unexpired certificate with the same key.
func (c *CA) Revoke(ctx context.Context, serialOrHost, reason string, code int, families ...string) ([]Record, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var recs []Record
	if rec, err := c.inv.get(serialOrHost); err == nil {
		if len(families) > 0 && !slices.Contains(families, rec.Family) {
			return nil, fmt.Errorf("certificate %s is of the %s chain family, not %s", rec.Serial, rec.Family, strings.Join(families, ", "))
		}
		recs = append(recs, rec)
	} else {
		targets, ferr := c.issuersFor(families, "")
		if ferr != nil {
			return nil, ferr
		}
		host := strings.ToLower(serialOrHost)
		for _, is := range targets {
			rec, ok, aerr := c.inv.active(host, is.slot)
			if aerr != nil {
				return nil, aerr
			}
			if ok {
				recs = append(recs, rec)
			}
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("%q is neither a serial number in the inventory nor a host with an active certificate (see `pushca cert list`)", serialOrHost)
		}
	}
	if code == reasonCodes["keycompromise"] {
		var err error
		if recs, err = c.withSameKey(recs); err != nil {
			return nil, err
		}
	}
	var done []Record
	for _, rec := range recs {
		r, err := c.revokeRecord(ctx, rec, reason, code)
		if err != nil {
			return done, err
		}
		done = append(done, r)
	}
	_, err := c.crl(ctx)
	return done, err
}

// withSameKey adds to recs every other unexpired certificate, in any
// family, that is not revoked and has the public key of one of them: a
// compromised key is compromised in the certificates a renewal superseded
// too, which stay valid until they expire.
func (c *CA) withSameKey(recs []Record) ([]Record, error) {
	all, err := c.inv.all()
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	have := map[string]bool{}
	for _, r := range recs {
		cert, err := r.Certificate()
		if err != nil {
			return nil, err
		}
		keys[string(cert.RawSubjectPublicKeyInfo)] = true
		have[r.Serial] = true
	}
	now := time.Now()
	for _, r := range all {
		if have[r.Serial] || r.State == StateRevoked || r.State == StateAbandoned || r.NotAfter.Before(now) {
			continue
		}
		cert, err := r.Certificate()
		if err != nil {
			return nil, err
		}
		if keys[string(cert.RawSubjectPublicKeyInfo)] {
			recs = append(recs, r)
			have[r.Serial] = true
		}
	}
	return recs, nil
}

func (c *CA) revokeRecord(ctx context.Context, rec Record, reason string, code int) (Record, error) {
	// Read the record again under the host's lock: a renewal may have
	// superseded it meanwhile.
	unlock, err := c.locks.host(ctx, rec.Host)
	if err != nil {
		return rec, err
	}
	defer unlock()
	rec, err = c.inv.get(rec.Serial)
	if err != nil {
		return rec, err
	}
	if rec.State == StateRevoked || rec.State == StateAbandoned {
		return rec, fmt.Errorf("certificate %s for %s is already revoked", rec.Serial, rec.Host)
	}
	is := c.issuer(rec.Family)
	if is == nil {
		return rec, fmt.Errorf("certificate %s is of the %s chain family, which this CA no longer has", rec.Serial, rec.Family)
	}
	cert, err := rec.Certificate()
	if err != nil {
		return rec, err
	}
	if err := c.revokeSerial(ctx, is, cert, reason, code); err != nil {
		return rec, err
	}
	rec.State, rec.RevokedReason = StateRevoked, reason
	return rec, c.inv.put(rec)
}

// revokeSerial records the revocation in step-ca's tables, which feed the
// CRL, through the authority of the family that issued cert.
func (c *CA) revokeSerial(ctx context.Context, is *issuer, cert *x509.Certificate, reason string, code int) error {
	// A certificate revoked right after signing (a failed self-check) is
	// recorded in step-ca's tables first, like every certificate signed.
	if err := c.step.flush(cert.SerialNumber.String()); err != nil {
		return fmt.Errorf("record serial %s: %w", cert.SerialNumber, err)
	}
	ctx = provisioner.NewContextWithMethod(ctx, provisioner.RevokeMethod)
	err := is.auth.Revoke(ctx, &authority.RevokeOptions{
		Serial: cert.SerialNumber.String(), Reason: reason, ReasonCode: code,
		// The operator holds the CA: revoke as the certificate's owner would,
		// without a provisioner token.
		MTLS: true, Crt: cert,
	})
	if err != nil {
		return fmt.Errorf("revoke serial %s: %w", cert.SerialNumber, err)
	}
	return nil
}

// crlLifetime is how long a CRL is valid; pushca serve --auto-renew
// regenerates it half-way, so a week leaves room for a stopped server.
const crlLifetime = 7 * 24 * time.Hour

// CRLFile is one family's revocation list as written.
type CRLFile struct {
	Slot Slot
	Path string
	DER  []byte
}

// CRL regenerates every family's certificate revocation list from step-ca's
// revocation table, writes each to its file (certs/crl.der for the first
// family) and returns them. Each intermediate signs the list of the
// certificates it issued. pushca signs them itself rather than through
// smallstep's generator, which always adds a critical Issuing Distribution
// Point (https://localhost/1.0/crl when no URL is set): a CRL with a
// distribution point that the certificates do not name is out of scope for
// them, and OpenSSL refuses to apply it.
func (c *CA) CRL(ctx context.Context) ([]CRLFile, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.crl(ctx)
}

// crl is CRL for callers that hold c.mu already.
func (c *CA) crl(ctx context.Context) ([]CRLFile, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	unlock, err := c.lockCRL(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	crlDB, ok := c.issuers[0].auth.GetDatabase().(db.CertificateRevocationListDB)
	if !ok {
		return nil, errors.New("generate CRL: the database keeps no revocations")
	}
	revoked, err := crlDB.GetRevokedCertificates()
	if err != nil {
		return nil, fmt.Errorf("generate CRL: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	entries := map[string][]x509.RevocationListEntry{}
	listed := map[string]bool{} // serials the new lists keep, or may drop as expired
	for _, r := range *revoked {
		listed[r.Serial] = true
		if !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(now) {
			continue // expired certificates need no revocation entry
		}
		sn, ok := new(big.Int).SetString(r.Serial, 10)
		if !ok {
			return nil, fmt.Errorf("generate CRL: revoked serial %q is not a number", r.Serial)
		}
		// A serial the inventory does not know was issued by step-ca
		// serving the directory, from the first family.
		family := c.issuers[0].family.Name
		if rec, err := c.inv.get(r.Serial); err == nil {
			family = rec.Family
		}
		entries[family] = append(entries[family], x509.RevocationListEntry{
			SerialNumber: sn, RevocationTime: r.RevokedAt, ReasonCode: r.ReasonCode,
		})
	}
	var out []CRLFile
	for _, is := range c.issuers {
		path := c.layout.CRL(is.slot)
		prev := readCRL(path)
		if err := keepsRevocations(c.layout, is.family.Name, path, prev, listed); err != nil {
			return out, err
		}
		number, err := c.crlNumber(is, prev)
		if err != nil {
			return nil, err
		}
		tpl := &x509.RevocationList{
			Number:                    number,
			ThisUpdate:                now,
			NextUpdate:                now.Add(crlLifetime),
			SignatureAlgorithm:        is.family.Signature,
			RevokedCertificateEntries: entries[is.family.Name],
		}
		if url := crlURLFor(c.state.CRLURL, is.slot); url != "" {
			idp, err := issuingDistributionPoint(url)
			if err != nil {
				return nil, err
			}
			tpl.ExtraExtensions = []pkix.Extension{idp}
		}
		der, err := x509.CreateRevocationList(rand.Reader, tpl, is.inter, is.signer)
		if err != nil {
			return nil, fmt.Errorf("sign %s CRL: %w", is.family.Name, err)
		}
		// The number is recorded before the file is written: a crash in
		// between skips a number, never repeats one.
		if err := c.recordCRL(is, tpl, der); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(path, der, atomicfile.FileMode); err != nil {
			return nil, err
		}
		out = append(out, CRLFile{Slot: is.slot, Path: path, DER: der})
	}
	return out, nil
}

// crlURLFor is the distribution point of a family's CRL: the URL given at
// init for the first family, and the same URL with "-FAMILY" before its
// extension for the others (http://h/pushca.crl, http://h/pushca-modern.crl),
// so each family's certificates name the list their issuer signs.
func crlURLFor(url string, s Slot) string { return crlURLWith(url, s.suffix) }

// crlURLWith puts suffix before the extension of url's last segment.
func crlURLWith(url, suffix string) string {
	if url == "" || suffix == "" {
		return url
	}
	base := url
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		base = url[i+1:]
	}
	if ext := path.Ext(base); ext != "" {
		return strings.TrimSuffix(url, ext) + suffix + ext
	}
	return url + suffix
}

// crlTable records the number of each family's last CRL: a deleted or
// damaged CRL file must not restart the sequence.
var crlTable = []byte("pushca_crl")

// crlNumber is the number of a family's next CRL: above the CRL on disk,
// above the last one the database recorded, and for the first family above
// step-ca's own last CRL, which step-ca serving this directory signs with
// the same intermediate: one issuer, one sequence.
func (c *CA) crlNumber(is *issuer, prev *x509.RevocationList) (*big.Int, error) {
	last := new(big.Int)
	if prev != nil && prev.Number != nil {
		last.Set(prev.Number)
	}
	b, err := c.inv.db.Get(crlTable, []byte(is.family.Name))
	switch {
	case err == nil:
		n, ok := new(big.Int).SetString(string(b), 10)
		if !ok {
			return nil, damaged(c.layout, "records CRL number %q for the %s family, not a number", b, is.family.Name)
		}
		if n.Cmp(last) > 0 {
			last = n
		}
	case !database.IsErrNotFound(err):
		return nil, fmt.Errorf("read the %s CRL number: %w", is.family.Name, err)
	}
	if is == c.issuers[0] {
		if info, err := c.step.GetCRL(); err == nil && big.NewInt(info.Number).Cmp(last) > 0 {
			last = big.NewInt(info.Number)
		}
	}
	return last.Add(last, big.NewInt(1)), nil
}

// recordCRL records a family's new CRL number, and for the first family
// the CRL itself in step-ca's table, so that step-ca serving this directory
// publishes it and numbers its next one above it.
func (c *CA) recordCRL(is *issuer, tpl *x509.RevocationList, der []byte) error {
	if err := c.inv.db.Set(crlTable, []byte(is.family.Name), []byte(tpl.Number.String())); err != nil {
		return fmt.Errorf("record the %s CRL number: %w", is.family.Name, err)
	}
	if is != c.issuers[0] || !tpl.Number.IsInt64() {
		return nil
	}
	err := c.step.StoreCRL(&db.CertificateRevocationListInfo{
		Number: tpl.Number.Int64(), ExpiresAt: tpl.NextUpdate, Duration: crlLifetime, DER: der,
	})
	if err != nil {
		return fmt.Errorf("record the CRL in step-ca's table: %w", err)
	}
	return nil
}

// readCRL reads the CRL on disk, nil when there is none or it cannot be
// parsed: a new one replaces it.
func readCRL(path string) *x509.RevocationList {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	prev, err := x509.ParseRevocationList(b)
	if err != nil {
		return nil
	}
	return prev
}

// keepsRevocations refuses a new CRL that would drop a revocation the
// previous one listed: listed holds every serial the revocation table
// knows (an expired certificate may leave the list; nothing else may). A
// serial missing from the table means the database lost it, and publishing
// the shorter list would make a revoked certificate trusted again.
func keepsRevocations(l Layout, family, path string, prev *x509.RevocationList, listed map[string]bool) error {
	if prev == nil {
		return nil
	}
	var lost []string
	for _, e := range prev.RevokedCertificateEntries {
		if !listed[e.SerialNumber.String()] {
			lost = append(lost, e.SerialNumber.String())
		}
	}
	if len(lost) == 0 {
		return nil
	}
	return damaged(l, "has lost %d revocation(s) that the %s CRL %s lists (serial %s), so no new CRL was written", len(lost), family, path, strings.Join(lost, ", "))
}

// issuingDistributionPoint marks the CRL as the one published at url, the
// URL also written into every certificate's CRL distribution points.
func issuingDistributionPoint(url string) (pkix.Extension, error) {
	type distributionPointName struct {
		FullName []asn1.RawValue `asn1:"optional,tag:0"`
	}
	type idp struct {
		DistributionPoint distributionPointName `asn1:"optional,tag:0"`
	}
	v, err := asn1.Marshal(idp{distributionPointName{[]asn1.RawValue{{Tag: 6, Class: asn1.ClassContextSpecific, Bytes: []byte(url)}}}})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("CRL distribution point %q: %w", url, err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 28}, Critical: true, Value: v}, nil
}
