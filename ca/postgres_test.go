package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/certificates/api"

	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/internal/testtool"
)

// pgDir is a fresh copy of an initialised state directory of families
// whose state names the PostgreSQL database dsn, not yet opened.
func pgDir(t *testing.T, dsn string, families ...string) string {
	t.Helper()
	dir := initializedCopy(t, InitOptions{Families: families, Password: testPassword})
	l := Layout{Dir: dir}
	st, err := readState(l)
	if err != nil {
		t.Fatal(err)
	}
	st.DB = dsn
	if err := writeState(l, st); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openCA opens dir and closes it when the test ends.
func openCA(t *testing.T, dir string) *CA {
	t.Helper()
	c, err := Open(context.Background(), dir, testPassword)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// copyDir copies a state directory, as a second operator copies the
// first one's to their machine.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "second")
	testtool.MustRun(t, nil, "cp", "-a", dir, dst)
	return dst
}

// activeOf counts the active records of host per family.
func activeOf(recs []Record, host string) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		if r.Host == host && r.State == StateActive {
			out[r.Family]++
		}
	}
	return out
}

// A CA on PostgreSQL issues, lists, revokes and publishes CRLs as on
// bbolt; a Reader (no CA password, read-only transactions) sees the same;
// step-ca's configuration names the database; and a second operator's
// copy of the directory sees the first one's certificates and adds its
// own, with `ca check` clean in both.
func TestPostgreSQLCA(t *testing.T) {
	ctx := context.Background()
	s := pgtest.Start(t)

	t.Run("lifecycle", func(t *testing.T) {
		dsn := s.CreateDB(t, "lifecycle")
		dir := pgDir(t, dsn, "legacy", "modern")
		c := openCA(t, dir)
		cfg, err := readJSONMap(c.layout.StepConfig(c.Slots()[1]))
		if err != nil {
			t.Fatal(err)
		}
		if d := cfg["db"].(map[string]any); d["type"] != "postgresql" || d["dataSource"] != dsn {
			t.Errorf("config/ca-modern.json db = %v, want postgresql %s", d, dsn)
		}
		issued, err := c.Issue(ctx, IssueRequest{Host: "mail.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if len(issued) != 2 {
			t.Fatalf("issued %d certificates, want one per family", len(issued))
		}
		if _, err := c.Issue(ctx, IssueRequest{Host: "mail.example.com"}); err == nil || !strings.Contains(err.Error(), "already has an active certificate") {
			t.Errorf("second issue: %v, want a refusal", err)
		}
		revoked := issued[1].Record.Serial
		if _, err := c.Revoke(ctx, revoked, "key compromise", 1); err != nil {
			t.Fatal(err)
		}
		recs := readRecords(t, dir)
		if len(recs) != 2 {
			t.Fatalf("Reader lists %d records, want 2", len(recs))
		}
		for _, r := range recs {
			want := StateActive
			if r.Serial == revoked {
				want = StateRevoked
			}
			if r.State != want || r.Files == "" {
				t.Errorf("%s (%s): state %s, files %q; want %s in this directory", r.Serial, r.Family, r.State, r.Files, want)
			}
		}
		if !crlLists(t, c.layout.CRL(c.Slots()[1]), revoked) {
			t.Error("the modern CRL does not list the revocation")
		}
		checkClean(t, dir)
		if _, err := os.Stat(c.layout.DB()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a PostgreSQL CA made the bbolt file %s (%v)", c.layout.DB(), err)
		}
	})

	t.Run("second operator", func(t *testing.T) {
		dsn := s.CreateDB(t, "shared")
		first := pgDir(t, dsn, "modern")
		a := openCA(t, first)
		if _, err := a.Issue(ctx, IssueRequest{Host: "a.example.com"}); err != nil {
			t.Fatal(err)
		}
		second := copyDir(t, first)
		b := openCA(t, second) // while a is open: no file lock between them
		if got := activeOf(readRecords(t, second), "a.example.com"); got["modern"] != 1 {
			t.Errorf("the second directory sees %v active for a.example.com, want the first's", got)
		}
		if _, err := b.Issue(ctx, IssueRequest{Host: "b.example.com"}); err != nil {
			t.Fatal(err)
		}
		// The first operator renews a host while the second's copy still
		// links the old certificate: neither reports the other's files.
		if _, err := a.Renew(ctx, "a.example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Renew(ctx, "a.example.com"); err == nil || !strings.Contains(err.Error(), "renew it there") {
			t.Errorf("renew of the first's host in the second directory: %v, want a refusal naming the key's directory", err)
		}
		for _, dir := range []string{first, second} {
			if got := activeOf(readRecords(t, dir), "b.example.com"); got["modern"] != 1 {
				t.Errorf("%s sees %v active for b.example.com, want 1", dir, got)
			}
			checkClean(t, dir)
		}
	})

	t.Run("advisory lock", func(t *testing.T) {
		for _, advisory := range []bool{true, false} {
			dsn := s.CreateDB(t, map[bool]string{true: "locked", false: "unlocked"}[advisory])
			first := pgDir(t, dsn, "modern")
			a := openCA(t, first)
			b := openCA(t, copyDir(t, first))
			// Two CAs in one test are two processes to each other: each
			// has its own in-process locks, and only the database's
			// advisory lock stands between them. Each waits, after reading
			// the host's active certificate and before recording its own,
			// for the other to get there too; with the lock the other
			// cannot (it waits for the lock, then sees the first's active
			// certificate and refuses), without it both do and both record
			// an active certificate.
			var barrier sync.WaitGroup
			barrier.Add(2)
			wait := func(stage string) error {
				if stage == "superseding" {
					barrier.Done()
					done := make(chan struct{})
					go func() { barrier.Wait(); close(done) }()
					select {
					case <-done:
					case <-time.After(2 * time.Second):
					}
				}
				return nil
			}
			a.failpoint, b.failpoint = wait, wait
			a.locks.noAdvisory, b.locks.noAdvisory = !advisory, !advisory
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, c := range []*CA{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = c.Issue(ctx, IssueRequest{Host: "same.example.com"})
				}()
			}
			wg.Wait()
			got := activeOf(readRecords(t, first), "same.example.com")["modern"]
			switch {
			case advisory && (got != 1 || errs[0] == nil == (errs[1] == nil)):
				t.Errorf("with the advisory lock: %d active records, errors %v; want 1 and one refusal", got, errs)
			case !advisory && got != 2:
				t.Errorf("without the advisory lock: %d active records; the test no longer shows what the lock prevents", got)
			}
		}
	})

	t.Run("migrate", func(t *testing.T) {
		dsn := s.CreateDB(t, "migrated")
		c := newCA(t, "legacy", "modern")
		dir := c.layout.Dir
		if _, err := c.Issue(ctx, IssueRequest{Host: "mail.example.com"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Revoke(ctx, "mail.example.com", "superseded", 4, "legacy"); err != nil {
			t.Fatal(err)
		}
		c.Close()
		want := stateOf(readRecords(t, dir))
		wantCRL := crlNumbers(t, dir)

		other := newCA(t, "modern")
		other.Close()
		for _, to := range []string{dsn, BoltDB} {
			m, err := Migrate(ctx, dir, to, false)
			if err != nil {
				t.Fatalf("migrate to %s: %v", to, err)
			}
			if m.Rows[string(inventoryTable)] != 2 || m.Kept == "" {
				t.Errorf("migration to %s: %+v", to, m)
			}
			if got := stateOf(readRecords(t, dir)); !maps.Equal(got, want) {
				t.Errorf("after migrating to %s: records %v, want %v", to, got, want)
			}
			if got := crlNumbers(t, dir); !maps.Equal(got, wantCRL) {
				t.Errorf("after migrating to %s: CRL numbers %v, want %v", to, got, wantCRL)
			}
			checkClean(t, dir)
			c := openCA(t, dir)
			if _, err := c.CRL(ctx); err != nil {
				t.Fatal(err)
			}
			c.Close()
			for f, n := range crlNumbers(t, dir) {
				if n <= wantCRL[f] {
					t.Errorf("after migrating to %s: %s CRL number %d, not above %d", to, f, n, wantCRL[f])
				}
			}
			wantCRL = crlNumbers(t, dir)
			if to != dsn {
				continue
			}
			// A second CA's migration into the same database is refused
			// and changes nothing, in its directory or in the database.
			before := snapshot(t, other.layout.Dir)
			if _, err := Migrate(ctx, other.layout.Dir, dsn, false); err == nil || !strings.Contains(err.Error(), "already holds a CA's tables") {
				t.Errorf("a second CA's migration into the database: %v, want a refusal", err)
			}
			sameSnapshot(t, before, snapshot(t, other.layout.Dir))
			if got := stateOf(readRecords(t, dir)); !maps.Equal(got, want) {
				t.Errorf("after the refused migration: records %v, want %v", got, want)
			}
		}
		if kept, _ := filepath.Glob(Layout{Dir: dir}.DB() + ".migrated-*"); len(kept) != 1 {
			t.Errorf("migrated-from bbolt files kept: %v, want 1", kept)
		}
		if st, _ := readState(Layout{Dir: dir}); st.DB != "" {
			t.Errorf("after migrating back, pushca.json names %s", st.DB)
		}
	})

	t.Run("backup", func(t *testing.T) {
		dsn := s.CreateDB(t, "backedup")
		dir := pgDir(t, dsn, "modern")
		c := openCA(t, dir)
		if _, err := c.Issue(ctx, IssueRequest{Host: "mail.example.com"}); err != nil {
			t.Fatal(err)
		}
		c.Close()
		r, err := OpenReader(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := r.Backup(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		r.Close()
		restored := filepath.Join(t.TempDir(), "restored")
		if _, err := Restore(ctx, &buf, "backup", restored, false); err != nil {
			t.Fatal(err)
		}
		if st, _ := readState(Layout{Dir: restored}); st.DB != "" {
			t.Errorf("the restored directory names %s, want bbolt", st.DB)
		}
		if got, want := stateOf(readRecords(t, restored)), stateOf(readRecords(t, dir)); !maps.Equal(got, want) {
			t.Errorf("restored records %v, want %v", got, want)
		}
		checkClean(t, restored)
		// And back onto PostgreSQL, into a new database.
		if _, err := Migrate(ctx, restored, s.DSN("restored"), false); err != nil {
			t.Fatal(err)
		}
		checkClean(t, restored)
	})

	t.Run("step-ca binary", func(t *testing.T) {
		dsn := s.CreateDB(t, "stepca")
		dir := pgDir(t, dsn, "modern")
		c := openCA(t, dir)
		var serials []string
		for _, h := range []string{"a.example.com", "b.example.com"} {
			is, err := c.Issue(ctx, IssueRequest{Host: h})
			if err != nil {
				t.Fatal(err)
			}
			serials = append(serials, is[0].Record.Serial)
		}
		if _, err := c.Revoke(ctx, serials[0], "key compromise", 1); err != nil {
			t.Fatal(err)
		}
		// step-ca runs beside the open pushca: nothing locks a file.
		sc := startStepCABinary(t, dir, Slot{Family: "modern"})
		resp, err := sc.client.Revoke(&api.RevokeRequest{Serial: serials[0], OTT: jwkToken(t, sc.key, sc.url+"/1.0/revoke", serials[0]), ReasonCode: 1, Passive: true}, nil)
		if err == nil || !strings.Contains(err.Error(), "already revoked") {
			t.Errorf("step-ca revoking what pushca revoked: %v, %v; want \"already revoked\"", resp, err)
		}
		sc.revoke(t, serials[1])
		leaf, err := sc.sign(t, ecKey(t), "stepca.example.com")
		if err != nil {
			t.Fatalf("step-ca sign: %v\n%s", err, sc.log)
		}
		got := stateOf(readRecords(t, dir))
		want := map[string]string{serials[0]: StateRevoked, serials[1]: StateRevoked, leaf.SerialNumber.String(): StateActive}
		if !maps.Equal(got, want) {
			t.Errorf("pushca lists %v after step-ca's work, want %v", got, want)
		}
		// step-ca's own CRL, generated on its revocation from the shared
		// table, lists pushca's revocation too.
		hc := &http.Client{Transport: sc.tr}
		res, err := hc.Get(sc.url + "/1.0/crl")
		if err != nil {
			t.Fatal(err)
		}
		der, _ := io.ReadAll(res.Body)
		res.Body.Close()
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("step-ca's CRL: %v (%s)", err, der)
		}
		listed := map[string]bool{}
		for _, e := range crl.RevokedCertificateEntries {
			listed[e.SerialNumber.String()] = true
		}
		if !listed[serials[0]] || !listed[serials[1]] {
			t.Errorf("step-ca's CRL lists %v, want pushca's and step-ca's revocations %v", listed, serials)
		}
		if _, err := c.CRL(ctx); err != nil {
			t.Fatal(err)
		}
		if !crlLists(t, c.layout.CRL(Slot{Family: "modern"}), serials[1]) {
			t.Error("pushca's CRL does not list step-ca's revocation")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, dsn := range []string{"postgresql://pushca:secret@127.0.0.1:5432/x", "postgres://u@h/x?password=secret"} {
			_, err := CheckDSN(dsn)
			if err == nil || !strings.Contains(err.Error(), "PGPASSWORD") || strings.Contains(err.Error(), "secret") {
				t.Errorf("CheckDSN(%s): %v; want a refusal naming PGPASSWORD without the password", dsn, err)
			}
		}
		for _, dsn := range []string{"mysql://u@h/x", "127.0.0.1:5432", "postgresql://u@h"} {
			if _, err := CheckDSN(dsn); err == nil {
				t.Errorf("CheckDSN(%s) accepted it", dsn)
			}
		}
		// A database without the certificates servers/ holds (a wrong
		// URL, an emptied database) is damaged, never an empty inventory.
		c := newCA(t, "modern")
		if _, err := c.Issue(ctx, IssueRequest{Host: "mail.example.com"}); err != nil {
			t.Fatal(err)
		}
		c.Close()
		l := Layout{Dir: c.layout.Dir}
		st, _ := readState(l)
		st.DB = s.CreateDB(t, "empty")
		if err := writeState(l, st); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenReader(ctx, l.Dir); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "ca migrate") {
			t.Errorf("OpenReader on an empty database: %v, want ErrDamaged", err)
		}
		if _, err := Open(ctx, l.Dir, testPassword); !errors.Is(err, ErrDamaged) {
			t.Errorf("Open on an empty database: %v, want ErrDamaged", err)
		}

		port := testtool.FreePort(t) // nothing listens there
		dir := pgDir(t, "postgresql://pushca@127.0.0.1:"+port+"/none?sslmode=disable", "modern")
		for what, open := range map[string]func() error{
			"Open":       func() error { _, err := Open(ctx, dir, testPassword); return err },
			"OpenReader": func() error { _, err := OpenReader(ctx, dir); return err },
		} {
			if err := open(); err == nil || !strings.Contains(err.Error(), "127.0.0.1:"+port) || !strings.Contains(err.Error(), "cannot connect") {
				t.Errorf("%s with no server: %v; want an error naming 127.0.0.1:%s", what, err, port)
			}
		}
	})
}

// stateOf maps each record's serial to its state.
func stateOf(recs []Record) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		out[r.Serial] = r.State
	}
	return out
}

// crlNumbers reads the number of each family's CRL file in dir, by file
// name.
func crlNumbers(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "certs", "crl*.der"))
	out := map[string]int64{}
	for _, f := range files {
		if !strings.Contains(f, RootCRLSuffix) { // the families' CRLs
			out[filepath.Base(f)] = readCRL(f).Number.Int64()
		}
	}
	return out
}

// checkClean runs `ca check` on dir and wants no mismatch.
func checkClean(t *testing.T, dir string) {
	t.Helper()
	r, err := OpenReader(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	problems, err := r.Check(context.Background())
	if err != nil || len(problems) > 0 {
		t.Errorf("ca check %s: %v %q", dir, err, problems)
	}
}
