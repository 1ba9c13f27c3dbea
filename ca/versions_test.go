package ca

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.step.sm/crypto/x509util"

	"github.com/pushca/pushca/profile"
)

// crashAt runs req on c with a simulated crash at stage and closes c.
func crashAt(t *testing.T, c *CA, stage string, req IssueRequest) {
	t.Helper()
	ctx := context.Background()
	crash := errors.New("simulated crash")
	c.failpoint = func(s string) error {
		if s == stage {
			return crash
		}
		return nil
	}
	if _, err := c.Issue(ctx, req); !errors.Is(err, crash) {
		t.Fatalf("err = %v, want the simulated crash", err)
	}
	c.Close()
}

// reopen opens dir again, to repair.
func reopen(t *testing.T, dir string) *CA {
	t.Helper()
	c, err := Open(context.Background(), dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkProblems runs the read-only integrity check on dir.
func checkProblems(t *testing.T, dir string) []string {
	t.Helper()
	r, err := OpenReader(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	problems, err := r.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

// A crash before the issuance's record leaves a version directory no
// record names: `ca check` says so, and repair finishes a complete one
// from its files (a CSR's too, with no key beside it), recording it in
// step-ca's table and superseding the host's previous certificate, or
// revokes an incomplete one. A crash between the record and the link
// switch leaves a link that repair points at the active record.
func TestCrashBeforeTheRecordIsRepairedFromTheFiles(t *testing.T) {
	ctx := context.Background()
	f, _ := profile.GetFamily("modern")
	key, err := generateKey(f)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509util.CreateCertificateRequest("mail.example.com", nil, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, stage string
		csr, force  bool
		wantState   string
		wantCheck   string
	}{
		{"csr/recorded", "recorded", true, false, StateAbandoned, "in no record"},
		{"csr/files-written", "files-written", true, false, StateActive, "in no record"},
		{"before the record", "superseding", false, false, StateActive, "in no record"},
		{"before the record, replacing", "superseding", true, true, StateActive, "in no record"},
		{"before the link", "active", false, false, StateActive, "link does not point"},
		{"before the link, replacing", "active", true, true, StateActive, "link does not point"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCA(t, "modern")
			req := IssueRequest{Host: "mail.example.com", Force: tc.force}
			var prev string
			if tc.force {
				is, err := one(c.Issue(ctx, req))
				if err != nil {
					t.Fatal(err)
				}
				prev = is.Record.Serial
			}
			if tc.csr {
				req.CSR = csr
			}
			dir := c.layout.Dir
			crashAt(t, c, tc.stage, req)
			if p := checkProblems(t, dir); len(p) != 1 || !strings.Contains(p[0], tc.wantCheck) {
				t.Errorf("check before repair: %q", p)
			}
			c2 := reopen(t, dir)
			notes, err := c2.Repair(ctx)
			if err != nil || len(notes) != 1 {
				t.Fatalf("repair: %q, %v", notes, err)
			}
			recs, _ := c2.List(ctx)
			var got Record
			for _, r := range recs {
				if r.Serial != prev {
					got = r
				} else if r.State != StateSuperseded {
					t.Errorf("the previous certificate is %s, want superseded", r.State)
				}
			}
			if got.State != tc.wantState || got.KeySource != map[bool]string{true: keyFromCSR, false: keyGenerated}[tc.csr] {
				t.Fatalf("records after repair: %+v", recs)
			}
			if _, err := c2.db.GetCertificate(got.Serial); err != nil {
				t.Errorf("not in step-ca's table: %v", err)
			}
			if tc.wantState == StateActive {
				if link, err := os.Readlink(c2.layout.ServerCurrent("mail.example.com", firstSlot(c2))); err != nil || link != got.Serial {
					t.Errorf("current link %q, %v; want %s", link, err, got.Serial)
				}
			} else if _, err := os.Stat(c2.layout.ServerVersion("mail.example.com", got.Serial)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("partial files left: %v", err)
			}
			if again, _ := c2.Repair(ctx); len(again) != 0 {
				t.Errorf("second repair did something: %q", again)
			}
			c2.Close()
			if p := checkProblems(t, dir); len(p) != 0 {
				t.Errorf("check after repair: %q", p)
			}
		})
	}
}

// A crash that left a version directory whose certificate never reached
// the disk (its names not yet durable) leaves nothing to revoke: nobody
// received the certificate. Repair removes the directory and the host is
// free.
func TestCrashBeforeTheCertificateReachedTheDisk(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy")
	crashAt(t, c, "key-written", IssueRequest{Host: "mail.example.com"})
	c2 := reopen(t, c.layout.Dir)
	vs, err := unrecorded(c2.layout, nil)
	if err != nil || len(vs) != 1 {
		t.Fatalf("unrecorded versions: %v, %v", vs, err)
	}
	dir := c2.layout.ServerVersion(vs[0].host, vs[0].serial)
	if err := os.Remove(filepath.Join(dir, chainFile)); err != nil {
		t.Fatal(err)
	}
	notes, err := c2.Repair(ctx)
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "removed") {
		t.Fatalf("repair: %q, %v", notes, err)
	}
	if recs, _ := c2.List(ctx); len(recs) != 0 {
		t.Errorf("records: %+v", recs)
	}
	if exists(dir) {
		t.Error("partial files left")
	}
	if _, err := c2.Issue(ctx, IssueRequest{Host: "mail.example.com"}); err != nil {
		t.Fatalf("re-run: %v", err)
	}
}
