package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/atomicfile"
)

// pendingFile is the CA password's name inside a pending directory.
const pendingFile = "ca-password"

// pendingPrefix starts the names of the directories, beside the state
// directory, that hold a new CA's password while ca.Init creates the state
// directory (it wants it absent or empty), so that a run stopped between
// the two never leaves a CA nobody can open: the next run adopts the
// password. Each such directory is made by mkdir with a random suffix and
// mode 0700, so no other user can predict, pre-create or read it; one they
// plant under the prefix anyway is adopted only if its password opens the
// CA, and never replaces a saved password.
func (q quickstartFiles) pendingPrefix() string {
	return "." + filepath.Base(q.dir) + ".quickstart-"
}

// stashPassword writes pw into a new pending directory and returns it.
func (q quickstartFiles) stashPassword(pw []byte) (string, error) {
	parent := filepath.Dir(q.dir)
	if err := atomicfile.MkdirAll(parent); err != nil {
		return "", err
	}
	pending, err := os.MkdirTemp(parent, q.pendingPrefix()+"*")
	if err != nil {
		return "", fmt.Errorf("stash the new CA's password: %w", err)
	}
	err = writeExclusive(filepath.Join(pending, pendingFile), append(pw, '\n'))
	if err == nil {
		err = atomicfile.SyncDir(parent)
	}
	if err != nil {
		os.RemoveAll(pending)
		return "", fmt.Errorf("stash the new CA's password: %w", err)
	}
	return pending, nil
}

// writeExclusive creates path, which must not exist, with data, durably.
func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, atomicfile.FileMode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(path))
	}
	return err
}

// savePassword writes pw to quickstart/ca-password; the temporary file is
// made inside the state directory, which only its owner can enter.
func (q quickstartFiles) savePassword(pw []byte) error {
	if err := atomicfile.MkdirAll(filepath.Dir(q.caPassword())); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(q.caPassword(), append(pw, '\n'), atomicfile.FileMode); err != nil {
		return fmt.Errorf("save the CA password: %w", err)
	}
	return nil
}

// createCA makes a CA of families in the state directory with a random
// password, saved in quickstart/ca-password.
func (q quickstartFiles) createCA(ctx context.Context, out io.Writer, families []string) ([]byte, error) {
	pw := []byte(rand.Text())
	pending, err := q.stashPassword(pw)
	if err != nil {
		return nil, err
	}
	if err := ca.Init(ctx, q.dir, ca.InitOptions{Families: families, Password: pw}); err != nil {
		os.RemoveAll(pending)
		return nil, err
	}
	if err := q.savePassword(pw); err != nil {
		return nil, err
	}
	os.RemoveAll(pending)
	fmt.Fprintf(out, "created a CA in %s: one root, chain families %s\nits password is in %s (0600): whoever can read that file can issue certificates; create production CAs with `pushca init`\n",
		q.dir, strings.Join(families, ", "), q.caPassword())
	return pw, nil
}

// existingPassword returns the password of the CA quickstart made in the
// state directory, adopting a pending one when a run stopped before saving
// it, and removes pending copies of it that a run left behind.
func (q quickstartFiles) existingPassword(ctx context.Context) ([]byte, error) {
	pending, err := q.pendingDirs()
	if err != nil {
		return nil, err
	}
	pw, err := readSecretFile(q.caPassword())
	if errors.Is(err, fs.ErrNotExist) {
		pw, err = q.adopt(ctx, pending)
	}
	if err != nil {
		return nil, err
	}
	for _, p := range pending {
		if b, err := readPending(p); err == nil && string(b) == string(pw) {
			os.RemoveAll(p)
		}
	}
	return pw, nil
}

// adopt saves the first pending password that opens the CA.
func (q quickstartFiles) adopt(ctx context.Context, pending []string) ([]byte, error) {
	for _, p := range pending {
		pw, err := readPending(p)
		if err != nil {
			continue
		}
		authority, err := ca.Open(ctx, q.dir, pw)
		if err != nil {
			continue
		}
		authority.Close()
		if err := q.savePassword(pw); err != nil {
			return nil, err
		}
		return pw, nil
	}
	return nil, fmt.Errorf("%s holds a CA that quickstart did not create (there is no %s): serve it with `pushca serve`, or give quickstart another --dir", q.dir, q.caPassword())
}

// pendingDirs are the directories beside the state directory that may be
// pending ones: real directories (not symbolic links) under the prefix,
// closed to group and others as the ones quickstart makes are.
func (q quickstartFiles) pendingDirs() ([]string, error) {
	parent := filepath.Dir(q.dir)
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil, fmt.Errorf("state directory's parent %s: %w", parent, err)
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), q.pendingPrefix()) || !e.IsDir() {
			continue
		}
		if fi, err := e.Info(); err != nil || fi.Mode().Perm()&0o077 != 0 {
			continue
		}
		out = append(out, filepath.Join(parent, e.Name()))
	}
	return out, nil
}

// readPending reads a pending directory's password without following a
// symbolic link out of it.
func readPending(dir string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(pendingFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line == "" {
		return nil, fmt.Errorf("%s: empty", filepath.Join(dir, pendingFile))
	}
	return []byte(line), nil
}
