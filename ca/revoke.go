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
	"strings"
	"time"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/db"

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

// Revoke revokes the certificate with the given serial (or the active one of
// a host name), records why, and regenerates the CRL.
func (c *CA) Revoke(ctx context.Context, serialOrHost, reason string, code int) (Record, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rec, err := c.inv.get(serialOrHost)
	if err != nil {
		var ok bool
		var aerr error
		rec, ok, aerr = c.inv.active(strings.ToLower(serialOrHost))
		if aerr != nil {
			return rec, aerr
		}
		if !ok {
			return rec, fmt.Errorf("%q is neither a serial number in the inventory nor a host with an active certificate (see `pushca cert list`)", serialOrHost)
		}
	}
	// Read the record again under the host's lock: a renewal may have
	// superseded it meanwhile.
	defer c.hosts.lock(rec.Host)()
	if rec, err = c.inv.get(rec.Serial); err != nil {
		return rec, err
	}
	if rec.State == StateRevoked || rec.State == StateAbandoned {
		return rec, fmt.Errorf("certificate %s for %s is already revoked", rec.Serial, rec.Host)
	}
	cert, err := rec.Certificate()
	if err != nil {
		return rec, err
	}
	if err := c.revokeSerial(ctx, cert, reason, code); err != nil {
		return rec, err
	}
	rec.State, rec.RevokedReason = StateRevoked, reason
	if err := c.inv.put(rec); err != nil {
		return rec, err
	}
	_, err = c.crl(ctx)
	return rec, err
}

// revokeSerial records the revocation in step-ca's tables, which feed the CRL.
func (c *CA) revokeSerial(ctx context.Context, cert *x509.Certificate, reason string, code int) error {
	// A certificate revoked right after signing (a failed self-check) is
	// recorded in step-ca's tables first, like every certificate signed.
	if err := c.step.flush(cert.SerialNumber.String()); err != nil {
		return fmt.Errorf("record serial %s: %w", cert.SerialNumber, err)
	}
	ctx = provisioner.NewContextWithMethod(ctx, provisioner.RevokeMethod)
	err := c.auth.Revoke(ctx, &authority.RevokeOptions{
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

// CRL regenerates the certificate revocation list from step-ca's revocation
// table, writes it to certs/crl.der and returns it (DER). pushca signs it
// itself rather than through smallstep's generator, which always adds a
// critical Issuing Distribution Point (https://localhost/1.0/crl when no URL
// is set): a CRL with a distribution point that the certificates do not
// name is out of scope for them, and OpenSSL refuses to apply it.
func (c *CA) CRL(ctx context.Context) ([]byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.crl(ctx)
}

// crl is CRL for callers that hold c.mu already.
func (c *CA) crl(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.crlMu.Lock()
	defer c.crlMu.Unlock()
	crlDB, ok := c.auth.GetDatabase().(db.CertificateRevocationListDB)
	if !ok {
		return nil, errors.New("generate CRL: the database keeps no revocations")
	}
	revoked, err := crlDB.GetRevokedCertificates()
	if err != nil {
		return nil, fmt.Errorf("generate CRL: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	tpl := &x509.RevocationList{
		Number:             c.nextCRLNumber(),
		ThisUpdate:         now,
		NextUpdate:         now.Add(crlLifetime),
		SignatureAlgorithm: c.profile.SignatureFor(keyType(c.signer.Public())),
	}
	for _, r := range *revoked {
		if !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(now) {
			continue // expired certificates need no revocation entry
		}
		sn, ok := new(big.Int).SetString(r.Serial, 10)
		if !ok {
			return nil, fmt.Errorf("generate CRL: revoked serial %q is not a number", r.Serial)
		}
		tpl.RevokedCertificateEntries = append(tpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: sn, RevocationTime: r.RevokedAt, ReasonCode: r.ReasonCode,
		})
	}
	if c.state.CRLURL != "" {
		idp, err := issuingDistributionPoint(c.state.CRLURL)
		if err != nil {
			return nil, err
		}
		tpl.ExtraExtensions = []pkix.Extension{idp}
	}
	der, err := x509.CreateRevocationList(rand.Reader, tpl, c.inter, c.signer)
	if err != nil {
		return nil, fmt.Errorf("sign CRL: %w", err)
	}
	if err := atomicfile.WriteFile(c.layout.CRL(), der, atomicfile.FileMode); err != nil {
		return nil, err
	}
	return der, nil
}

// nextCRLNumber continues the number of the CRL on disk: RFC 5280 wants it
// to grow monotonically.
func (c *CA) nextCRLNumber() *big.Int {
	b, err := os.ReadFile(c.layout.CRL())
	if err != nil {
		return big.NewInt(1)
	}
	prev, err := x509.ParseRevocationList(b)
	if err != nil || prev.Number == nil {
		return big.NewInt(1)
	}
	return new(big.Int).Add(prev.Number, big.NewInt(1))
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
