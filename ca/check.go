package ca

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/smallstep/nosql/database"

	"github.com/pushca/pushca/profile"
)

// Tables of step-ca's that the inventory must agree with.
var (
	stepCertsTable   = []byte("x509_certs")
	stepRevokedTable = []byte("revoked_x509_certs")
)

// Check cross-checks the state directory: every family's intermediate
// under the root; the inventory against step-ca's tables (every certificate
// known to both, every revocation in both); the files and "current" link
// of every active certificate whose files this directory holds (see
// Record.Files), and that every version directory under servers/ is
// recorded; and every family's CRL (signed by its
// intermediate, not stale, listing every unexpired revocation of the
// family). It returns one line per mismatch, none when all agree; an
// error only when it cannot look.
func (r *Reader) Check(ctx context.Context) ([]string, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	slots := r.state.slots()
	for i, s := range slots {
		if err := profile.CheckSignedBy(r.inters[i], r.root); err != nil {
			add("%s intermediate %s: %v", s.Family, r.layout.IntermediateCert(s), err)
		}
	}
	recs, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	revoked := map[string][]string{} // family -> unexpired revoked serials
	known := make(map[string]bool, len(recs))
	for _, rec := range recs {
		known[rec.Serial] = true
		if _, err := r.inv.db.Get(stepCertsTable, []byte(rec.Serial)); database.IsErrNotFound(err) {
			add("certificate %s (%s, %s family) is in pushca's inventory but not in step-ca's table", rec.Serial, rec.Host, rec.Family)
		} else if err != nil {
			return nil, err
		}
		_, err := r.inv.db.Get(stepRevokedTable, []byte(rec.Serial))
		isRevoked := err == nil
		if err != nil && !database.IsErrNotFound(err) {
			return nil, err
		}
		switch rec.State {
		case StateRevoked, StateAbandoned:
			if !isRevoked {
				add("certificate %s (%s) is %s in the inventory but not in step-ca's revocations, so no CRL lists it", rec.Serial, rec.Host, rec.State)
			}
			if rec.NotAfter.After(now) {
				revoked[rec.Family] = append(revoked[rec.Family], rec.Serial)
			}
		case StatePending:
			where := ""
			if !ownFiles(r.layout, rec) {
				where = " in " + rec.Files
			}
			add("certificate %s (%s) is pending: an issuance was interrupted or is running; a command that signs%s (such as `pushca ca crl`) finishes or abandons it", rec.Serial, rec.Host, where)
		case StateActive:
			if isRevoked {
				add("certificate %s (%s) is active in the inventory but revoked in step-ca's table", rec.Serial, rec.Host)
			}
			if !ownFiles(r.layout, rec) {
				break // another operator's directory holds its files
			}
			s := newSlot(rec.Family, rec.Family == r.state.Families[0])
			if link, err := os.Readlink(r.layout.ServerCurrent(rec.Host, s)); err != nil || filepath.Base(link) != rec.Serial {
				add("%s: the %s link does not point at the active certificate %s (%v)", rec.Host, filepath.Base(r.layout.ServerCurrent(rec.Host, s)), rec.Serial, orLink(link, err))
			}
			if !versionComplete(r.layout, rec) {
				add("%s: the files of the active certificate %s in %s are missing or do not belong together", rec.Host, rec.Serial, r.layout.ServerVersion(rec.Host, rec.Serial))
			}
		}
	}
	loose, err := unrecorded(r.layout, known)
	if err != nil {
		return nil, err
	}
	for _, v := range loose {
		add("%s holds a certificate in no record: an issuance was interrupted or is running; a command that signs (such as `pushca ca crl`) finishes or abandons it", r.layout.ServerVersion(v.host, v.serial))
	}
	for i, s := range slots {
		checkCRL(add, s.Family+" CRL", r.layout.CRL(s), r.inters[i], revoked[s.Family], false, 0)
	}
	cas, err := listRevokedCAs(r.layout, r.inv.db.List)
	if err != nil {
		return nil, err
	}
	var revokedCAs []string
	for _, c := range cas {
		if c.NotAfter.After(now) {
			revokedCAs = append(revokedCAs, c.Serial)
		}
	}
	// With a CRL URL every intermediate names the root's CRL.
	checkCRL(add, "root CRL", r.layout.RootCRL(), r.root, revokedCAs, r.state.CRLURL != "", rootCRLWarning)
	return problems, nil
}

// checkCRL checks one CRL file: signed by issuer, not expired (nor within
// warn of it), listing every serial in revoked; missing only when nothing
// is revoked and required is false.
func checkCRL(add func(string, ...any), what, path string, issuer *x509.Certificate, revoked []string, required bool, warn time.Duration) {
	crl := readCRL(path)
	switch {
	case crl == nil && (required || len(revoked) > 0):
		add("%s %s is missing or unreadable (%d revoked certificate(s) to list): run `pushca ca crl`", what, path, len(revoked))
		return
	case crl == nil:
		return
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		add("%s %s is not signed by its issuer %s: %v", what, path, issuer.Subject, err)
	}
	now := time.Now()
	switch {
	case crl.NextUpdate.IsZero():
	case now.After(crl.NextUpdate):
		add("%s %s expired on %s: run `pushca ca crl`", what, path, crl.NextUpdate.UTC().Format(time.RFC3339))
	case now.Add(warn).After(crl.NextUpdate):
		add("%s %s runs out on %s: run `pushca ca crl` before then", what, path, crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	listed := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		listed[e.SerialNumber.String()] = true
	}
	for _, serial := range revoked {
		if !listed[serial] {
			add("%s %s does not list the revoked certificate %s: run `pushca ca crl`", what, path, serial)
		}
	}
}

func orLink(link string, err error) string {
	if err != nil {
		return err.Error()
	}
	return "it points at " + link
}
