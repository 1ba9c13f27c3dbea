package ca

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
)

// A backup taken before damage restores a directory that ca check passes,
// with every record and revocation; the damaged directory is moved aside,
// never deleted.
func TestBackupRestoresWhatDamageTook(t *testing.T) {
	ctx := context.Background()
	dir, revoked := damagedFixture(t)
	r, err := OpenReader(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if _, err := r.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if strings.Contains(backup.String(), string(testPassword)) {
		t.Error("the backup holds the CA password")
	}
	// Decompressed, or the check above could never see a secret.
	if plain := untar(t, backup.Bytes()); strings.Contains(plain, string(testtool.ReadFile(t, Layout{Dir: dir}.ProvisionerPassword()))) {
		t.Error("the backup holds the step-ca provisioner's password")
	}
	if err := os.Truncate(Layout{Dir: dir}.DB(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, bytes.NewReader(backup.Bytes()), "backup", dir, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore over a directory without --force: %v", err)
	}
	moved, err := Restore(ctx, bytes.NewReader(backup.Bytes()), "backup", dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(moved, "db", "pushca.db")); err != nil || fi.Size() != 0 {
		t.Errorf("the damaged directory was not kept aside at %s: %v", moved, err)
	}
	r, err = OpenReader(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := r.Check(ctx); err != nil || len(p) != 0 {
		t.Errorf("check of the restored directory: %q %v", p, err)
	}
	got, err := r.List(ctx)
	r.Close()
	if err != nil || len(got) != len(want) {
		t.Fatalf("restored %d records, had %d (%v)", len(got), len(want), err)
	}
	if !crlLists(t, Layout{Dir: dir}.CRL(Slot{}), revoked) {
		t.Error("the restored CRL lost the revocation")
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("restored directory mode %v, %v", fi.Mode().Perm(), err)
	}
	// And the CA itself opens on it and signs.
	c, err := Open(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Renew(ctx, "keep.example.com"); err != nil {
		t.Errorf("renew after restore: %v", err)
	}
	if _, err := os.Stat(Layout{Dir: dir}.ProvisionerPassword()); err != nil {
		t.Errorf("no new step-ca provisioner password after restore: %v", err)
	}
}

// untar returns every file of a gzip'd tar, concatenated.
func untar(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(plain)
}

// tarball builds a gzip'd tar from entries.
func tarball(t testing.TB, entries ...*tar.Header) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range entries {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// Hostile or foreign archives are refused by name, and nothing is written
// outside the temporary directory, which goes.
func TestRestoreRefusesHostileArchives(t *testing.T) {
	ctx := context.Background()
	state := &tar.Header{Name: "pushca.json", Typeflag: tar.TypeReg, Size: 1, Mode: 0o600}
	cases := map[string]struct {
		data []byte
		want string
	}{
		"not gzip":        {[]byte("PK\x03\x04 a zip"), "not a gzip-compressed backup"},
		"traversal":       {tarball(t, &tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Size: 1}), `"../evil": not a path inside`},
		"absolute":        {tarball(t, &tar.Header{Name: "/etc/evil", Typeflag: tar.TypeReg, Size: 1}), "not a path inside"},
		"link out":        {tarball(t, &tar.Header{Name: "servers/h/current", Typeflag: tar.TypeSymlink, Linkname: "../../../etc"}), "not to a version in its own directory"},
		"device":          {tarball(t, &tar.Header{Name: "dev", Typeflag: tar.TypeChar}), "is not a file, directory or link"},
		"twice":           {tarball(t, state, state), "file exists"},
		"through a link":  {tarball(t, &tar.Header{Name: "a", Typeflag: tar.TypeSymlink, Linkname: "b"}, &tar.Header{Name: "a", Typeflag: tar.TypeReg, Size: 1}), "file exists"},
		"not a CA backup": {tarball(t, &tar.Header{Name: "notes.txt", Typeflag: tar.TypeReg, Size: 3}), "not a pushca backup"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "state")
			_, err := Restore(ctx, bytes.NewReader(tc.data), "evil.tar.gz", dir, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "evil.tar.gz") {
				t.Fatalf("err = %v, want it to name the backup and say %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("a refused restore left %v", ents)
			}
		})
	}
}

func FuzzRestore(f *testing.F) {
	f.Add(tarball(f, &tar.Header{Name: "pushca.json", Typeflag: tar.TypeReg, Size: 2}))
	f.Add(tarball(f, &tar.Header{Name: "servers/h/current", Typeflag: tar.TypeSymlink, Linkname: "1"}))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		if _, err := Restore(context.Background(), bytes.NewReader(data), "fuzz", filepath.Join(parent, "state"), false); err != nil {
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("a refused restore left %v", ents)
			}
		}
	})
}
