package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/provisioner"
	bolt "go.etcd.io/bbolt"

	"github.com/pushca/pushca/internal/testtool"
)

// damagedFixture is a closed CA with two hosts, one revoked, and its CRLs
// written: what a damaged database must never let anyone forget.
func damagedFixture(t *testing.T) (dir string, revoked string) {
	t.Helper()
	ctx := context.Background()
	c := newCA(t, "legacy", "modern")
	if _, err := c.Issue(ctx, IssueRequest{Host: "keep.example.com"}); err != nil {
		t.Fatal(err)
	}
	gone, err := c.Issue(ctx, IssueRequest{Host: "gone.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Revoke(ctx, "gone.example.com", "superseded", 4, "legacy"); err != nil {
		t.Fatal(err)
	}
	dir = c.layout.Dir
	c.Close()
	return dir, gone[0].Record.Serial
}

// A damaged, emptied or missing database is an error naming the file and
// what to do, never an empty inventory; and no panic escapes, whatever
// the damage.
func TestDamagedDatabaseIsNeverAnEmptyInventory(t *testing.T) {
	ctx := context.Background()
	src, revoked := damagedFixture(t)
	// used is the size of the pages bbolt has used: its file may be longer.
	used := func(dir string) (n int64) {
		bdb, err := bolt.Open(Layout{Dir: dir}.DB(), 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer bdb.Close()
		bdb.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
		return n
	}(src)
	flip := func(pages ...int64) func(string) error {
		return func(db string) error {
			f, err := os.OpenFile(db, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			for _, p := range pages {
				// Bytes inside the page, past its header, where keys and
				// values live.
				off := p*4096 + 100 + p*37%3000
				b := make([]byte, 16)
				if _, err := f.ReadAt(b, off); err != nil {
					return err
				}
				for i := range b {
					b[i] ^= 0xA5
				}
				if _, err := f.WriteAt(b, off); err != nil {
					return err
				}
			}
			return nil
		}
	}
	cases := []struct {
		name   string
		damage func(db string) error
		// open is whether Open must refuse; damage to values may pass the
		// page check, and then the commands must not lose the truth.
		open bool
	}{
		{"deleted", os.Remove, true},
		{"empty", func(db string) error { return os.Truncate(db, 0) }, true},
		{"truncated to one page", func(db string) error { return os.Truncate(db, 4096) }, true},
		{"truncated to half", func(db string) error { return os.Truncate(db, used/2) }, true},
		{"truncated by 100 bytes", func(db string) error { return os.Truncate(db, used-100) }, true},
		{"replaced by an empty database", func(db string) error {
			if err := os.Remove(db); err != nil {
				return err
			}
			bdb, err := bolt.Open(db, 0o600, nil) // valid, and holds nothing
			if err != nil {
				return err
			}
			return bdb.Close()
		}, true},
		{"bytes flipped in pages 2-6", flip(2, 3, 4, 5, 6), false},
		{"bytes flipped in pages 7-11", flip(7, 8, 9, 10, 11), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			testtool.MustRun(t, nil, "cp", "-a", src, dir)
			l := Layout{Dir: dir}
			if err := tc.damage(l.DB()); err != nil {
				t.Fatal(err)
			}
			crlBefore := testtool.ReadFile(t, l.CRL(Slot{}))
			c, err := Open(ctx, dir, testPassword)
			if err != nil {
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), l.DB()) || !strings.Contains(err.Error(), "restore") {
					t.Errorf("open: %v; want ErrDamaged naming %s and the way out", err, l.DB())
				}
			} else {
				defer c.Close()
				if tc.open {
					t.Fatal("a damaged database opened")
				}
				// What opened must still know the revocation, or fail.
				if _, err := c.CRL(ctx); err != nil {
					if !errors.Is(err, ErrDamaged) {
						t.Errorf("CRL: %v; want ErrDamaged", err)
					}
				} else if !crlLists(t, l.CRL(Slot{}), revoked) {
					t.Error("a CRL was written without the revoked certificate")
				}
			}
			if b := testtool.ReadFile(t, l.CRL(Slot{})); !slices.Equal(b, crlBefore) && !crlLists(t, l.CRL(Slot{}), revoked) {
				t.Error("the published CRL lost the revocation")
			}
		})
	}
}

func crlLists(t *testing.T, file, serial string) bool {
	t.Helper()
	crl, err := x509.ParseRevocationList(testtool.ReadFile(t, file))
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(crl.RevokedCertificateEntries, func(e x509.RevocationListEntry) bool {
		return e.SerialNumber.String() == serial
	})
}

// A revocation the database lost is never dropped from the CRL: the new
// list is refused and the published one stays.
func TestCRLNeverDropsARevocation(t *testing.T) {
	ctx := context.Background()
	dir, revoked := damagedFixture(t)
	c, err := Open(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := testtool.ReadFile(t, c.layout.CRL(Slot{}))
	// The database loses the revocation (step-ca's revoked table).
	if err := c.db.Del([]byte("revoked_x509_certs"), []byte(revoked)); err != nil {
		t.Fatal(err)
	}
	_, err = c.CRL(ctx)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), revoked) {
		t.Fatalf("CRL after the database lost a revocation: %v", err)
	}
	if after := testtool.ReadFile(t, c.layout.CRL(Slot{})); !slices.Equal(before, after) {
		t.Error("the published CRL changed")
	}
}

// Key compromise revokes every unexpired certificate with the key, the
// ones a renewal superseded too, and leaves a rotated key's alone.
func TestKeyCompromiseRevokesEveryCertificateWithTheKey(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy")
	first, err := one(c.Issue(ctx, IssueRequest{Host: "mail.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := one(c.Renew(ctx, "mail.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := one(c.Issue(ctx, IssueRequest{Host: "other.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	code, _ := ReasonCode("key-compromise")
	recs, err := c.Revoke(ctx, "mail.example.com", "key-compromise", code)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Serial)
	}
	slices.Sort(got)
	want := []string{first.Record.Serial, renewed.Record.Serial}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("revoked %v, want the active and the superseded certificate %v", got, want)
	}
	crlPEM := filepath.Join(t.TempDir(), "crl.pem")
	testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", c.layout.CRL(Slot{}), "-out", crlPEM)
	text := string(testtool.MustRun(t, nil, "openssl", "crl", "-in", crlPEM, "-noout", "-text"))
	for _, is := range []*Issued{first, renewed} {
		if !strings.Contains(text, strings.ToUpper(is.Chain[0].SerialNumber.Text(16))) {
			t.Errorf("CRL lacks serial %s:\n%s", is.Record.Serial, text)
		}
	}
	if strings.Contains(text, strings.ToUpper(other.Chain[0].SerialNumber.Text(16))) || recordStates(t, c)[other.Record.Serial] != StateActive {
		t.Error("another key's certificate was revoked")
	}
}

// The read-only view needs no password, sees what the CA wrote, and
// refuses a damaged database just as Open does.
func TestReaderNeedsNoPassword(t *testing.T) {
	ctx := context.Background()
	fresh := filepath.Join(t.TempDir(), "fresh")
	if err := Init(ctx, fresh, InitOptions{Families: []string{"legacy"}, Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(ctx, fresh)
	if err != nil {
		t.Fatalf("a CA that never opened its database: %v", err)
	}
	if recs, err := r.List(ctx); err != nil || len(recs) != 0 {
		t.Errorf("fresh CA: %v %v", recs, err)
	}
	r.Close()
	if _, err := os.Stat(Layout{Dir: fresh}.DB()); err == nil {
		t.Error("reading created the database")
	}

	dir, revoked := damagedFixture(t)
	c, err := Open(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	before := snapshot(t, dir)
	r, err = OpenReader(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.List(ctx)
	if err != nil || len(got) != len(want) || len(got) != 4 {
		t.Fatalf("reader lists %d records (%v), the CA %d", len(got), err, len(want))
	}
	states := map[string]string{}
	for _, rec := range got {
		states[rec.Serial] = rec.State
	}
	if states[revoked] != StateRevoked {
		t.Errorf("revoked certificate is %q to the reader", states[revoked])
	}
	exp, err := r.Expiring(ctx, time.Now(), 400*24*time.Hour)
	if err != nil || len(exp) != 3 {
		t.Errorf("expiring within 400 days: %d, %v; want the 3 active ones", len(exp), err)
	}
	if r.Intermediate("modern") == nil || r.Intermediate("modern-rsa") != nil || len(r.Families()) != 2 {
		t.Error("reader's families are not the CA's")
	}
	r.Close()
	sameSnapshot(t, before, snapshot(t, dir))

	if err := os.Truncate(Layout{Dir: dir}.DB(), 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReader(ctx, dir); !errors.Is(err, ErrDamaged) {
		t.Errorf("reader on a truncated database: %v", err)
	}
}

// ca check finds each kind of disagreement between the database, the
// files, the CRLs and step-ca's tables, and nothing in a sound directory.
func TestCheckFindsEveryMismatch(t *testing.T) {
	ctx := context.Background()
	dir, revoked := damagedFixture(t)
	check := func() []string {
		t.Helper()
		r, err := OpenReader(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		problems, err := r.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return problems
	}
	if p := check(); len(p) != 0 {
		t.Fatalf("a sound directory: %q", p)
	}
	l := Layout{Dir: dir}
	modern := newSlot("modern", false)
	// The modern CRL and the root's replaced by the legacy one; keep.example.com's legacy
	// link removed; the revocation gone from step-ca's table; a version's
	// key replaced by another.
	if err := os.WriteFile(l.CRL(modern), testtool.ReadFile(t, l.CRL(Slot{})), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.RootCRL(), testtool.ReadFile(t, l.CRL(Slot{})), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l.ServerCurrent("keep.example.com", Slot{})); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.ServerKey("keep.example.com", modern), testtool.ReadFile(t, l.ServerKey("gone.example.com", modern)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.db.Del(stepRevokedTable, []byte(revoked)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	got := strings.Join(check(), "\n")
	for _, want := range []string{
		"modern CRL " + l.CRL(modern) + " is not signed by its issuer",
		"root CRL " + l.RootCRL() + " is not signed by its issuer",
		"keep.example.com: the current link does not point at the active certificate",
		"keep.example.com: the files of the active certificate",
		revoked + " (gone.example.com) is revoked in the inventory but not in step-ca's revocations",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("check did not report %q; it said:\n%s", want, got)
		}
	}
}

// CRL numbers only grow: not when the file is deleted, and for the first
// family not below step-ca's own CRL of the same issuer, which then holds
// pushca's so that step-ca serving the directory numbers above it.
func TestCRLNumbersOnlyGrow(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy", "modern")
	number := func(f CRLFile) int64 {
		crl, err := x509.ParseRevocationList(f.DER)
		if err != nil {
			t.Fatal(err)
		}
		return crl.Number.Int64()
	}
	first, err := c.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range first {
		if err := os.Remove(f.Path); err != nil {
			t.Fatal(err)
		}
	}
	second, err := c.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range second {
		if number(second[i]) != number(first[i])+1 {
			t.Errorf("%s CRL after its file was deleted: number %d, the last was %d", second[i].Slot.Family, number(second[i]), number(first[i]))
		}
	}
	info, err := c.step.GetCRL()
	if err != nil || info.Number != number(second[0]) || !slices.Equal(info.DER, second[0].DER) {
		t.Fatalf("step-ca's table does not hold the first family's CRL: %+v %v", info, err)
	}
	// step-ca signed #41 meanwhile.
	info.Number = 41
	if err := c.step.StoreCRL(info); err != nil {
		t.Fatal(err)
	}
	third, err := c.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := number(third[0]); n != 42 {
		t.Errorf("first family's CRL after step-ca's #41: number %d", n)
	}
	if n := number(third[1]); n != number(second[1])+1 {
		t.Errorf("modern CRL number %d, want %d: its own sequence", n, number(second[1])+1)
	}
}

// A certificate step-ca revokes (through its own API on this directory,
// into its own table) is revoked in pushca's inventory too: one source of
// truth. Here step-ca's revocation is made through the authority alone,
// without pushca's bookkeeping, as step-ca would make it.
func TestStepCARevocationIsPushcas(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy")
	is, err := one(c.Issue(ctx, IssueRequest{Host: "mail.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.issuers[0].auth.Revoke(provisioner.NewContextWithMethod(ctx, provisioner.RevokeMethod), &authority.RevokeOptions{
		Serial: is.Record.Serial, Reason: "lost laptop", ReasonCode: 1, MTLS: true, Crt: is.Chain[0],
	})
	if err != nil {
		t.Fatal(err)
	}
	states := recordStates(t, c)
	if states[is.Record.Serial] != StateRevoked {
		t.Errorf("after step-ca revoked it, the inventory says %q", states[is.Record.Serial])
	}
	if _, err := c.Renew(ctx, "mail.example.com"); err == nil || !strings.Contains(err.Error(), "no active certificate") {
		t.Errorf("renew of a host whose certificate step-ca revoked: %v", err)
	}
	if _, err := c.Revoke(ctx, is.Record.Serial, "again", 0); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Errorf("revoke again: %v", err)
	}
	// A new issuance needs no --force: the host has no active certificate.
	if _, err := c.Issue(ctx, IssueRequest{Host: "mail.example.com"}); err != nil {
		t.Errorf("issue after step-ca's revocation: %v", err)
	}
	// Until pushca's next CRL, ca check says the CRL lacks it; then it
	// lists it.
	c.Close()
	r, err := OpenReader(ctx, c.layout.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := r.Check(ctx); len(p) != 1 || !strings.Contains(p[0], "run `pushca ca crl`") {
		t.Errorf("check before the CRL: %q", p)
	}
	r.Close()
	if c, err = Open(ctx, c.layout.Dir, testPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CRL(ctx); err != nil {
		t.Fatal(err)
	}
	if !crlLists(t, c.layout.CRL(Slot{}), is.Record.Serial) {
		t.Error("pushca's CRL lacks step-ca's revocation")
	}
	c.Close()
	if r, err = OpenReader(ctx, c.layout.Dir); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Serial == is.Record.Serial && (rec.State != StateRevoked || !strings.Contains(rec.RevokedReason, "lost laptop")) {
			t.Errorf("the read-only view: %s %q", rec.State, rec.RevokedReason)
		}
	}
	if p, err := r.Check(ctx); err != nil || len(p) != 0 {
		t.Errorf("check: %q %v", p, err)
	}
}
