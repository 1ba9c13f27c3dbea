package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/profile"
)

// TestQuickstartStoppedBeforeSavingTheCAPasswordResumes: a run stopped
// between ca.Init and the password's save (Ctrl-C, power cut) leaves the
// password in its pending directory; the next run adopts it, so the CA is
// never one nobody can open.
func TestQuickstartStoppedBeforeSavingTheCAPasswordResumes(t *testing.T) {
	ctx := context.Background()
	q := quickstartFiles{dir: filepath.Join(t.TempDir(), "state")}
	pw := []byte("the new CA's password")
	pending, err := q.stashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	// The stash is a fresh 0700 directory of random name, unlike the
	// next run's.
	if fi, err := os.Stat(pending); err != nil || fi.Mode().Perm() != 0o700 || !strings.HasPrefix(filepath.Base(pending), ".state.quickstart-") {
		t.Fatalf("pending directory %s: %v %v", pending, fi, err)
	}
	other, err := q.stashPassword([]byte("another run's"))
	if err != nil || other == pending {
		t.Fatalf("second stash %s (first %s): %v", other, pending, err)
	}
	if err := ca.Init(ctx, q.dir, ca.InitOptions{Families: []string{profile.FamilyModern}, Password: pw}); err != nil {
		t.Fatal(err)
	}
	// Stopped here: no quickstart/ca-password.
	got, err := q.existingPassword(ctx)
	if err != nil || string(got) != string(pw) {
		t.Fatalf("next run: %q, %v; want the stashed password", got, err)
	}
	if saved, err := readSecretFile(q.caPassword()); err != nil || string(saved) != string(pw) {
		t.Errorf("%s: %q, %v", q.caPassword(), saved, err)
	}
	if _, err := os.Stat(pending); !os.IsNotExist(err) {
		t.Errorf("the adopted stash is still there: %v", err)
	}
	// The other run's password opens nothing: left alone.
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a stash that opens nothing was removed: %v", err)
	}
}

// TestQuickstartIgnoresACAPasswordPlantedBesideItsDirectory: in a shared
// parent such as /tmp, another user planted .state.ca-password (the name
// quickstart used to stash a new password under) and a directory shaped
// like a stash beside a state directory whose ca-password is gone. Neither
// is adopted, renamed or removed.
func TestQuickstartIgnoresACAPasswordPlantedBesideItsDirectory(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	q := quickstartFiles{dir: filepath.Join(parent, "state")}
	if _, err := q.createCA(ctx, io.Discard, []string{profile.FamilyModern}); err != nil {
		t.Fatal(err)
	}
	planted := plantCAPasswords(t, parent, "state")
	if err := os.Remove(q.caPassword()); err != nil {
		t.Fatal(err)
	}
	_, err := q.existingPassword(ctx)
	if err == nil || !strings.Contains(err.Error(), "did not create") {
		t.Errorf("no ca-password, planted ones beside: %v; want the CA refused", err)
	}
	if _, err := os.Stat(q.caPassword()); !os.IsNotExist(err) {
		t.Errorf("a planted password became %s: %v", q.caPassword(), err)
	}
	planted.check(t)
}

// TestQuickstartRunWithAPlantedCAPasswordKeepsItsOwn is the same attack on
// the binary, with the state's ca-password in place, as the attacker found
// it: quickstart renamed the planted file over it.
func TestQuickstartRunWithAPlantedCAPasswordKeepsItsOwn(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "state")
	args := []string{"--dir", dir, "quickstart", "--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0"}
	first := startPushca(t, nil, args...)
	first.waitFor(t, func(l []string) bool { return len(printedCommands(l, "verify")) > 0 })
	first.stop(t, syscall.SIGINT)
	own, err := os.ReadFile(filepath.Join(dir, "quickstart/ca-password"))
	if err != nil {
		t.Fatal(err)
	}
	planted := plantCAPasswords(t, parent, "state")
	again := startPushca(t, nil, args...)
	again.waitFor(t, func(l []string) bool { return len(printedCommands(l, "verify")) > 0 })
	again.stop(t, syscall.SIGINT)
	if now, err := os.ReadFile(filepath.Join(dir, "quickstart/ca-password")); err != nil || string(now) != string(own) {
		t.Errorf("quickstart/ca-password is now %q (%v); was %q", now, err, own)
	}
	planted.check(t)
}

// plantedFiles are an attacker's files and what they held.
type plantedFiles map[string]string

// plantCAPasswords plants, beside the state directory base in parent, the
// file quickstart used to stash a password in and a stash-shaped
// directory, both holding a password of the attacker's.
func plantCAPasswords(t *testing.T, parent, base string) plantedFiles {
	t.Helper()
	p := plantedFiles{
		filepath.Join(parent, "."+base+".ca-password"):                       "attacker's password\n",
		filepath.Join(parent, "."+base+".quickstart-planted", "ca-password"): "attacker's password\n",
	}
	for f, content := range p {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// check fails the test unless every planted file is there, unchanged.
func (p plantedFiles) check(t *testing.T) {
	t.Helper()
	for f, content := range p {
		if b, err := os.ReadFile(f); err != nil || string(b) != content {
			t.Errorf("planted %s: now %q, %v", f, b, err)
		}
	}
}
