package ca

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/smallstep/nosql/database"

	"github.com/pushca/pushca/profile"
)

// step-ca's table of what provisioner authorized each certificate it
// stored. pushca's own issuances store none.
var stepCertsDataTable = []byte("x509_certs_data")

// issuerFamilies maps the subject key ID of every intermediate of the
// directory, current and archived, to its family.
func issuerFamilies(l Layout, st State) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range st.slots() {
		cert, err := readCert(l.IntermediateCert(s))
		if err != nil {
			return nil, err
		}
		out[hex.EncodeToString(cert.SubjectKeyId)] = s.Family
	}
	archived, err := filepath.Glob(filepath.Join(filepath.Dir(l.archivedCert("x")), "*.crt"))
	if err != nil {
		return nil, err
	}
	for _, p := range archived {
		cert, err := readCert(p)
		if err != nil {
			return nil, err
		}
		f, ok := profile.FamilyOf(cert)
		if !ok {
			return nil, fmt.Errorf("archived intermediate %s belongs to no chain family", p)
		}
		out[hex.EncodeToString(cert.SubjectKeyId)] = f.Name
	}
	return out, nil
}

// stepRecord is the record of a certificate step-ca issued from this
// directory and pushca never recorded; ok is false when step-ca has no such
// certificate, or pushca signed it (no provisioner: a certificate revoked
// by a failed self-check or a crash before it was recorded).
func (inv *inventory) stepRecord(serial string) (Record, bool, error) {
	der, err := inv.db.Get(stepCertsTable, []byte(serial))
	if database.IsErrNotFound(err) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("step-ca's certificates: %w", err)
	}
	data, err := inv.db.Get(stepCertsDataTable, []byte(serial))
	if err != nil && !database.IsErrNotFound(err) {
		return Record{}, false, fmt.Errorf("step-ca's certificate data: %w", err)
	}
	return inv.recordOf(serial, der, data)
}

// stepRecords returns the records of every certificate step-ca issued that
// is not in have (the inventory's serials).
func (inv *inventory) stepRecords(have map[string]bool) ([]Record, error) {
	certs, err := inv.db.List(stepCertsTable)
	if database.IsErrNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("step-ca's certificates: %w", err)
	}
	var out []Record
	for _, e := range certs {
		serial := string(e.Key)
		if have[serial] {
			continue
		}
		data, err := inv.db.Get(stepCertsDataTable, e.Key)
		if err != nil && !database.IsErrNotFound(err) {
			return nil, fmt.Errorf("step-ca's certificate data: %w", err)
		}
		r, ok, err := inv.recordOf(serial, e.Value, data)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (inv *inventory) recordOf(serial string, der, data []byte) (Record, bool, error) {
	var d struct {
		Provisioner *struct{ Name, Type string } `json:"provisioner"`
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &d); err != nil {
			return Record{}, false, fmt.Errorf("step-ca's data of certificate %s is damaged: %w", serial, err)
		}
	}
	if d.Provisioner == nil {
		return Record{}, false, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Record{}, false, fmt.Errorf("step-ca's certificate %s is damaged: %w", serial, err)
	}
	family, ok := inv.issuers[hex.EncodeToString(cert.AuthorityKeyId)]
	if !ok {
		f, known := profile.FamilyOf(cert)
		if !known {
			return Record{}, false, fmt.Errorf("step-ca's certificate %s was issued by none of this CA's intermediates", serial)
		}
		family = f.Name
	}
	host := cert.Subject.CommonName
	if host == "" && len(cert.DNSNames) > 0 {
		host = cert.DNSNames[0]
	}
	r := newRecord(cert, strings.ToLower(host), family, keyFromCSR, StateActive)
	r.Source, r.Issued = SourceStepCA, cert.NotBefore.UTC()
	if strings.EqualFold(d.Provisioner.Type, "ACME") {
		r.Source = SourceACME
	}
	return r, true, nil
}
