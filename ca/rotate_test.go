package ca

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
)

func TestRotateIntermediate(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy")
	before, err := one(c.Issue(ctx, IssueRequest{Host: "mail.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	oldInter := c.issuers[0].inter
	oldChain := filepath.Join(c.layout.ServerVersion("mail.example.com", before.Record.Serial), chainFile)

	if err := c.RotateIntermediate(ctx, []byte("wrong"), 0); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := c.RotateIntermediate(ctx, testPassword, 0); err != nil {
		t.Fatal(err)
	}
	if c.issuers[0].inter.Equal(oldInter) || !strings.HasSuffix(c.issuers[0].inter.Subject.CommonName, "Intermediate CA G2") {
		t.Fatalf("intermediate not replaced: %s", c.issuers[0].inter.Subject.CommonName)
	}
	// The new intermediate chains to the same root, by openssl's judgement.
	testtool.MustRun(t, nil, "openssl", "verify", "-auth_level", "0", "-CAfile", c.layout.RootCert(), c.layout.IntermediateCert(firstSlot(c)))

	after, err := one(c.Renew(ctx, "mail.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	issuer := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", after.CertFile, "-noout", "-issuer"))
	if !strings.Contains(issuer, "G2") {
		t.Errorf("renewed leaf issued by %s", issuer)
	}
	if err := opensslVerify(t, c, firstSlot(c), after.CertFile); err != nil {
		t.Fatal(err)
	}
	// The old certificate still verifies with the chain it was issued with:
	// a server mid-switch keeps working.
	testtool.MustRun(t, nil, "openssl", "verify", "-auth_level", "0", "-CAfile", c.layout.RootCert(), "-untrusted", oldChain, oldChain)
	if _, err := os.Stat(c.layout.archivedKey(oldInter.SerialNumber.String())); err != nil {
		t.Errorf("old intermediate key not archived: %v", err)
	}

	// Reopened, the CA uses the new intermediate; a second rotation is G3.
	dir := c.layout.Dir
	c.Close()
	c2, err := Open(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.RotateIntermediate(ctx, testPassword, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(c2.issuers[0].inter.Subject.CommonName, "G3") {
		t.Errorf("second rotation: %s", c2.issuers[0].inter.Subject.CommonName)
	}
}

func TestRotateIntermediateCrash(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// after the crash at "next-written", damage simulates how far the
		// renames got.
		damage  func(l Layout)
		wantNew bool
	}{
		{"before renames", func(Layout) {}, true},
		{"key renamed", func(l Layout) { os.Rename(l.IntermediateKey(Slot{})+nextSuffix, l.IntermediateKey(Slot{})) }, true},
		{"certificate unwritten", func(l Layout) { os.Remove(l.IntermediateCert(Slot{}) + nextSuffix) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCA(t, "modern-rsa")
			old := c.issuers[0].inter
			crash := errors.New("simulated crash")
			c.failpoint = func(s string) error {
				if s == "next-written" {
					return crash
				}
				return nil
			}
			if err := c.RotateIntermediate(ctx, testPassword, 0); !errors.Is(err, crash) {
				t.Fatalf("err = %v", err)
			}
			dir := c.layout.Dir
			c.Close()
			tc.damage(Layout{Dir: dir})
			c2, err := Open(ctx, dir, testPassword)
			if err != nil {
				t.Fatalf("open after crash: %v", err)
			}
			defer c2.Close()
			if got := !c2.issuers[0].inter.Equal(old); got != tc.wantNew {
				t.Errorf("new intermediate in use = %v, want %v", got, tc.wantNew)
			}
			for _, p := range []string{c2.layout.IntermediateKey(firstSlot(c2)) + nextSuffix, c2.layout.IntermediateCert(firstSlot(c2)) + nextSuffix} {
				if exists(p) {
					t.Errorf("%s left behind", p)
				}
			}
			if _, err := c2.Issue(ctx, IssueRequest{Host: "mail.example.com"}); err != nil {
				t.Fatalf("issue after recovery: %v", err)
			}
		})
	}
}
