package ca

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/provisioner"

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
	_, err = c.CRL(ctx)
	return rec, err
}

// revokeSerial records the revocation in step-ca's tables, which feed the CRL.
func (c *CA) revokeSerial(ctx context.Context, cert *x509.Certificate, reason string, code int) error {
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

// CRL regenerates the certificate revocation list, writes it to certs/crl.der
// and returns it (DER).
func (c *CA) CRL(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.auth.GenerateCertificateRevocationList(); err != nil {
		return nil, fmt.Errorf("generate CRL: %w", err)
	}
	info, err := c.auth.GetCertificateRevocationList()
	if err != nil {
		return nil, fmt.Errorf("read CRL: %w", err)
	}
	if err := atomicfile.WriteFile(c.layout.CRL(), info.Data, atomicfile.FileMode); err != nil {
		return nil, err
	}
	return info.Data, nil
}
