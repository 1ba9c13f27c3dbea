package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// victim is a directory outside the bundle holding a file worth
// deleting; the attacks below aim at it. It returns the directory, the
// file, and the tree as it was.
func victim(t *testing.T) (dir, file string, before map[string]string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "important.txt")
	if err := os.WriteFile(file, []byte("the only copy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, file, tree(t, dir)
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestBundleOutPlantedUserFolderLink is the first attack of the review:
// users/alice, planted as a link to another directory before the run,
// received alice's files there.
func TestBundleOutPlantedUserFolderLink(t *testing.T) {
	b := testBundle(t)
	vdir, _, before := victim(t)
	out := t.TempDir()
	symlink(t, vdir, filepath.Join(out, "users", "alice"))
	_, err := b.Write(context.Background(), out, []User{{Line: 2, Name: "alice"}}, nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(out, "users", "alice")+" is a symbolic link") {
		t.Fatalf("write through a planted folder link: %v", err)
	}
	if got := tree(t, vdir); !maps.Equal(got, before) {
		t.Fatalf("the directory the link names changed: %v", got)
	}

	// A link planted as a user's file is replaced, never written through.
	out = t.TempDir()
	symlink(t, filepath.Join(vdir, "important.txt"), filepath.Join(out, "users", "alice", sheetName))
	if _, err := b.Write(context.Background(), out, []User{{Line: 2, Name: "alice"}}, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(out, "users", "alice", sheetName)); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the sheet is not a file of its own: %v %v", fi, err)
	}
	if got := tree(t, vdir); !maps.Equal(got, before) {
		t.Fatalf("the file the link names changed: %v", got)
	}
}

// TestBundleOutPlantedManifestDeletes is the second attack: a link evil ->
// another directory plus a manifest listing evil/important.txt got that
// file deleted. Here the planted manifest even records the right digest.
// Files a person changed since the run that wrote them stay too.
func TestBundleOutPlantedManifestDeletes(t *testing.T) {
	b := testBundle(t)
	vdir, vfile, before := victim(t)
	out := t.TempDir()
	symlink(t, vdir, filepath.Join(out, "evil"))
	symlink(t, vfile, filepath.Join(out, "users", "linked.txt"))
	notes := filepath.Join(out, "notes.txt")
	if err := os.WriteFile(notes, []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(vfile)
	m := Manifest{Files: []ManifestFile{
		entry("evil/important.txt", "x", data),
		entry("users/linked.txt", "x", data),
		entry("../"+filepath.Base(vdir)+"/important.txt", "x", data),
		entry("notes.txt", "x", []byte("what a bundle once wrote here\n")),
	}}
	planted, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(out, ManifestName), planted, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(context.Background(), out, []User{{Line: 2, Name: "alice"}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, vdir); !maps.Equal(got, before) {
		t.Fatalf("a planted manifest changed a directory outside the bundle: %v", got)
	}
	if got, err := os.ReadFile(notes); err != nil || string(got) != "mine\n" {
		t.Errorf("a file whose digest the manifest does not match was removed: %q %v", got, err)
	}
	if _, err := os.Lstat(filepath.Join(out, "users", "linked.txt")); err != nil {
		t.Errorf("a link the manifest named was removed: %v", err)
	}

	// A manifest that is itself a link is refused, not read.
	if err := os.Remove(filepath.Join(out, ManifestName)); err != nil {
		t.Fatal(err)
	}
	symlink(t, filepath.Join(out, "notes.txt"), filepath.Join(out, ManifestName))
	if _, err := b.Write(context.Background(), out, []User{{Line: 2, Name: "alice"}}, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("manifest link: %v", err)
	}
}

// TestBundleOutOfAnotherUser: an existing --out that group or others may
// write, or that another user owns, could hold anything they planted.
func TestBundleOutOfAnotherUser(t *testing.T) {
	b := testBundle(t)
	users := []User{{Line: 2, Name: "alice"}}
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o1777); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(context.Background(), open, users, nil); err == nil || !strings.Contains(err.Error(), "writable by group or others (mode 0777)") {
		t.Errorf("world-writable --out: %v", err)
	}
	if entries, _ := os.ReadDir(open); len(entries) > 0 {
		t.Errorf("a refused --out was written to: %v", entries)
	}
	if os.Geteuid() != 0 {
		return // only root can give a directory away
	}
	theirs := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(theirs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(context.Background(), theirs, users, nil); err == nil || !strings.Contains(err.Error(), "belongs to user id 65534") {
		t.Errorf("--out of another user: %v", err)
	}
}

// FuzzPlantedManifest reads arbitrary bytes as the previous run's
// manifest and lets the run remove what it lists: nothing outside the
// bundle changes, nothing is followed through a link, and a file goes only
// when the manifest records its exact bytes.
func FuzzPlantedManifest(f *testing.F) {
	data := []byte("the only copy\n")
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	for _, p := range []string{"evil/important.txt", "users/linked.txt", "../v/important.txt", "keep.txt", "users/a/index.html", "/etc/passwd", "users/../keep.txt", "users//a/index.html", "."} {
		m, _ := json.Marshal(Manifest{Files: []ManifestFile{{Path: p, Size: len(data), SHA256: digest}}})
		f.Add(m)
	}
	f.Add([]byte(`{"files":[{"path":"keep.txt","size":-1}]}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, planted []byte) {
		base := t.TempDir()
		vdir, out := filepath.Join(base, "v"), filepath.Join(base, "out")
		for _, d := range []string{vdir, filepath.Join(out, "users", "a")} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{filepath.Join(vdir, "important.txt"), filepath.Join(out, "keep.txt"), filepath.Join(out, "users", "a", "index.html")} {
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		symlink(t, vdir, filepath.Join(out, "evil"))
		symlink(t, filepath.Join(vdir, "important.txt"), filepath.Join(out, "users", "linked.txt"))
		if err := os.WriteFile(filepath.Join(out, ManifestName), planted, 0o600); err != nil {
			t.Fatal(err)
		}
		outside, inside := tree(t, vdir), tree(t, out)
		o, err := openOut(out)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		old, err := o.readManifest()
		if err != nil || old == nil {
			return
		}
		o.removeStale(old, &Manifest{})
		if got := tree(t, vdir); !maps.Equal(got, outside) {
			t.Fatalf("outside the bundle changed: %v", got)
		}
		listed := map[string]bool{}
		for _, e := range old.Files {
			if e.SHA256 == digest && e.Size == len(data) {
				listed[e.Path] = true
			}
		}
		after := tree(t, out)
		for p := range inside {
			if _, err := os.Lstat(filepath.Join(out, filepath.FromSlash(p))); errors.Is(err, fs.ErrNotExist) && !listed[p] {
				t.Fatalf("%s removed, but the manifest does not list it with its digest", p)
			}
		}
		if _, ok := after["users/linked.txt"]; !ok {
			t.Fatal("a link was removed")
		}
	})
}
