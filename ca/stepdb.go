package ca

import (
	"crypto/x509"
	"sync"

	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/db"
	"github.com/smallstep/nosql"
	"github.com/smallstep/nosql/database"
)

// stepDB is step-ca's database as pushca's authority sees it, with one
// change: the write of a newly signed certificate into step-ca's tables is
// held back and committed by finish in the same transaction as the
// inventory's active record. That saves a commit per issuance, and step-ca's
// tables and the inventory never disagree about a certificate. A crash
// before that transaction leaves the certificate in neither: if its
// version directory holds it, repair writes both (see adoptVersion);
// otherwise it is nowhere, which is what a crash during signing always
// left: nobody had received it.
type stepDB struct {
	*db.DB
	mu   sync.Mutex
	held map[string]*database.Tx // by serial
}

func (s *stepDB) StoreCertificateChain(p provisioner.Interface, chain ...*x509.Certificate) error {
	// A provisioner signed it (ACME): no finish of pushca's will commit a
	// held write, so it is stored at once, as step-ca stores it.
	if p != nil {
		return s.DB.StoreCertificateChain(p, chain...)
	}
	return s.hold(chain[0], func(d *db.DB) error { return d.StoreCertificateChain(p, chain...) })
}

func (s *stepDB) StoreRenewedCertificate(old *x509.Certificate, chain ...*x509.Certificate) error {
	return s.hold(chain[0], func(d *db.DB) error { return d.StoreRenewedCertificate(old, chain...) })
}

// hold runs one of step-ca's store functions against a database that
// reads from the real one and keeps the write.
func (s *stepDB) hold(cert *x509.Certificate, store func(*db.DB) error) error {
	rec := &txRecorder{DB: s.DB.DB}
	if err := store(&db.DB{DB: rec}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = map[string]*database.Tx{}
	}
	s.held[cert.SerialNumber.String()] = rec.tx
	return nil
}

// take returns the held write of serial's certificate (an empty transaction
// if there is none) and forgets it: the caller commits it.
func (s *stepDB) take(serial string) *database.Tx {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := s.held[serial]
	delete(s.held, serial)
	if tx == nil {
		tx = new(database.Tx)
	}
	return tx
}

// flush commits the held write of serial's certificate alone, for the
// paths that revoke a certificate instead of recording it.
func (s *stepDB) flush(serial string) error {
	if tx := s.take(serial); len(tx.Operations) > 0 {
		return s.DB.Update(tx)
	}
	return nil
}

// txRecorder is a database whose reads are the real ones and whose
// transactional writes are kept, not committed.
type txRecorder struct {
	nosql.DB
	tx *database.Tx
}

func (r *txRecorder) Update(tx *database.Tx) error {
	if r.tx == nil {
		r.tx = new(database.Tx)
	}
	r.tx.Operations = append(r.tx.Operations, tx.Operations...)
	return nil
}
