package ca

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/smallstep/nosql"
	"github.com/smallstep/nosql/database"

	"github.com/pushca/pushca/profile"
)

// Certificate states in the inventory.
const (
	// StatePending: signed and recorded, files not known complete: what
	// repair records for a certificate it found only in its version
	// directory (see adoptVersion), and what a crash left in a CA of an
	// older pushca, which recorded each issuance as pending first. Repair
	// finishes or abandons it.
	StatePending = "pending"
	// StateActive: the current certificate for its host.
	StateActive = "active"
	// StateSuperseded: replaced by a renewal or rotation; still valid until
	// it expires, so servers mid-switch keep working.
	StateSuperseded = "superseded"
	StateRevoked    = "revoked"
	// StateAbandoned: a crash lost the key before the files were written; the
	// certificate is revoked so nobody can ever use it.
	StateAbandoned = "abandoned"
)

// Record is one issued certificate in the inventory.
type Record struct {
	Serial   string   `json:"serial"`
	Host     string   `json:"host"`
	DNSNames []string `json:"dnsNames,omitempty"`
	IPs      []string `json:"ips,omitempty"`
	// Family is the chain family; records made before families existed
	// have none and belong to the CA's first family (see inventory.get).
	Family string `json:"family,omitempty"`
	// Profile is set only on records made before families existed.
	Profile       string    `json:"profile,omitempty"`
	Signature     string    `json:"signature"`
	Key           string    `json:"key"`
	KeySource     string    `json:"keySource"` // "generated" or "csr"
	NotBefore     time.Time `json:"notBefore"`
	NotAfter      time.Time `json:"notAfter"`
	State         string    `json:"state"`
	Replaces      string    `json:"replaces,omitempty"`
	RevokedReason string    `json:"revokedReason,omitempty"`
	Issued        time.Time `json:"issued"`
	Cert          []byte    `json:"cert"` // DER
	// Source is who issued it: SourcePushca, SourceStepCA (step-ca serving
	// the directory) or SourceACME (step-ca's ACME provisioners).
	Source string `json:"source"`
	// Files names the state directory that holds the certificate's files
	// (servers/HOST/SERIAL, the "current" link, the key), as
	// MACHINE:/absolute/path, when the database is PostgreSQL and so
	// shared by several operators' directories: the others hold none of
	// them, so `ca check` does not look for them there and a signing open
	// there leaves the record, even pending, to its own directory. Empty on
	// bbolt, whose one directory holds every file; a record without it
	// belongs to whichever directory reads it (made before the CA moved
	// to PostgreSQL, its files are in every copy of that directory). On
	// bbolt (after a migration back, or a restore) the one directory is
	// the whole CA, and every record is its.
	Files string `json:"files,omitempty"`
}

// ownFiles reports whether l's directory holds the files of r.
func ownFiles(l Layout, r Record) bool {
	return l.dsn == "" || r.Files == "" || r.Files == l.owner()
}

// Certificate sources.
const (
	SourcePushca = "pushca"
	SourceStepCA = "step-ca"
	SourceACME   = "acme"
)

// DaysLeft is the number of whole days until NotAfter (negative when expired).
func (r Record) DaysLeft(now time.Time) int {
	return int(r.NotAfter.Sub(now).Hours() / 24)
}

// Certificate parses the stored DER.
func (r Record) Certificate() (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(r.Cert)
	if err != nil {
		return nil, fmt.Errorf("inventory record %s: %w", r.Serial, err)
	}
	return c, nil
}

var (
	inventoryTable = []byte("pushca_certs")
	// hostsTable maps a host and family (see hostKey) to the serial of its
	// latest active record, so issuance never scans the whole inventory. An
	// entry may point at a record that was since revoked: active checks the
	// state.
	hostsTable = []byte("pushca_hosts")
)

// inventory is pushca's table beside step-ca's own tables in the same
// database; step-ca ignores it.
type inventory struct {
	db nosql.DB
	// first is the CA's first family, which records made before families
	// existed belong to.
	first string
	// issuers maps an intermediate's subject key ID (current or archived)
	// to its family: step-ca records no family for what it issues.
	issuers map[string]string
}

func openInventory(db nosql.DB, l Layout, st State) (*inventory, error) {
	for _, t := range [][]byte{inventoryTable, hostsTable, crlTable, revokedCATable} {
		if err := db.CreateTable(t); err != nil {
			return nil, err
		}
	}
	return newInventory(db, l, st)
}

// newInventory is the inventory of a database already made.
func newInventory(db nosql.DB, l Layout, st State) (*inventory, error) {
	issuers, err := issuerFamilies(l, st)
	if err != nil {
		return nil, err
	}
	return &inventory{db: db, first: st.Families[0], issuers: issuers}, nil
}

// hostKey is a host's entry in hostsTable for one family: the bare host
// for the first family (as before families existed), host/FAMILY for the
// others; no host name holds a slash.
func hostKey(host string, s Slot) []byte {
	if s.suffix == "" {
		return []byte(host)
	}
	return []byte(host + "/" + s.Family)
}

func newRecord(cert *x509.Certificate, host, family, keySource, state string) Record {
	r := Record{
		Serial:    cert.SerialNumber.String(),
		Host:      host,
		DNSNames:  cert.DNSNames,
		Family:    family,
		Signature: cert.SignatureAlgorithm.String(),
		Key:       profile.KeyDesc(cert.PublicKey),
		KeySource: keySource,
		NotBefore: cert.NotBefore.UTC(),
		NotAfter:  cert.NotAfter.UTC(),
		State:     state,
		Issued:    time.Now().UTC(),
		Cert:      cert.Raw,
	}
	for _, ip := range cert.IPAddresses {
		r.IPs = append(r.IPs, ip.String())
	}
	return r
}

// put writes records in one transaction: a state change of two certificates
// (new active, old superseded) is never half done.
func (inv *inventory) put(recs ...Record) error {
	return inv.putWith(new(database.Tx), recs...)
}

// putWith writes records in the transaction tx, after its own writes.
func (inv *inventory) putWith(tx *database.Tx, recs ...Record) error {
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		tx.Set(inventoryTable, []byte(r.Serial), b)
		if r.State == StateActive {
			tx.Set(hostsTable, hostKey(r.Host, newSlot(r.Family, r.Family == inv.first)), []byte(r.Serial))
		}
	}
	if err := inv.db.Update(tx); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	return nil
}

func (inv *inventory) get(serial string) (Record, error) {
	var r Record
	b, err := inv.db.Get(inventoryTable, []byte(serial))
	switch {
	case database.IsErrNotFound(err):
		var ok bool
		if r, ok, err = inv.stepRecord(serial); err != nil {
			return r, err
		}
		if !ok {
			return r, fmt.Errorf("no certificate with serial %s in the inventory", serial)
		}
	case err != nil:
		return r, fmt.Errorf("inventory: %w", err)
	default:
		if err := json.Unmarshal(b, &r); err != nil {
			return r, fmt.Errorf("inventory record %s is damaged: %w", serial, err)
		}
	}
	info, err := inv.db.Get(stepRevokedTable, []byte(serial))
	if err != nil && !database.IsErrNotFound(err) {
		return r, fmt.Errorf("step-ca's revocations: %w", err)
	}
	return inv.fill(r, info), nil
}

// fill gives a record made before families existed its family, and a
// record step-ca has a revocation of (revokedInfo, its JSON, nil when
// none) the state revoked: step-ca serving this directory revokes in its
// own table only, and the inventory must not call such a certificate
// active (one source of truth).
func (inv *inventory) fill(r Record, revokedInfo []byte) Record {
	if r.Family == "" {
		r.Family = inv.first
	}
	if r.Source == "" {
		r.Source = SourcePushca
	}
	if revokedInfo != nil && r.State != StateRevoked && r.State != StateAbandoned {
		var info struct{ Reason string }
		json.Unmarshal(revokedInfo, &info)
		r.State, r.RevokedReason = StateRevoked, strings.TrimSpace("through step-ca "+info.Reason)
	}
	return r
}

// all returns every record, oldest issue first.
func (inv *inventory) all() ([]Record, error) {
	ents, err := inv.db.List(inventoryTable)
	if err != nil && !database.IsErrNotFound(err) {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	revoked, err := inv.db.List(stepRevokedTable)
	if err != nil && !database.IsErrNotFound(err) {
		return nil, fmt.Errorf("step-ca's revocations: %w", err)
	}
	infos := make(map[string][]byte, len(revoked))
	for _, e := range revoked {
		infos[string(e.Key)] = e.Value
	}
	out := make([]Record, 0, len(ents))
	have := make(map[string]bool, len(ents))
	for _, e := range ents {
		var r Record
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, fmt.Errorf("inventory record %s is damaged: %w", e.Key, err)
		}
		have[r.Serial] = true
		out = append(out, inv.fill(r, infos[r.Serial]))
	}
	stepRecs, err := inv.stepRecords(have)
	if err != nil {
		return nil, err
	}
	for _, r := range stepRecs {
		out = append(out, inv.fill(r, infos[r.Serial]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Issued.Before(out[j].Issued) })
	return out, nil
}

// active returns the active record of host in a family, if any.
func (inv *inventory) active(host string, s Slot) (Record, bool, error) {
	serial, err := inv.db.Get(hostsTable, hostKey(host, s))
	if database.IsErrNotFound(err) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("inventory: %w", err)
	}
	r, err := inv.get(string(serial))
	if err != nil {
		return r, false, err
	}
	return r, r.State == StateActive, nil
}
