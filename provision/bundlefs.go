package provision

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/pushca/pushca/internal/atomicfile"
)

// outDir is a bundle's output directory, or a folder in it, opened as an
// os.Root, so that no name a previous run, another local user or a planted
// manifest put there makes a write or a removal land outside it. os.Root
// still follows links that stay inside; a bundle follows none, so every
// directory on the way to a file is checked to be a real one.
type outDir struct {
	root *os.Root
	// name is the directory as the caller named it, for messages.
	name string
}

// openOut creates dir (0700) or opens the existing one, refusing one that
// someone else could have prepared (see checkOutOwner).
func openOut(dir string) (*outDir, error) {
	if err := atomicfile.MkdirAll(dir); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open bundle directory: %w", err)
	}
	// Checked on the opened directory, so a rename in between cannot swap
	// in another.
	fi, err := r.Stat(".")
	if err == nil {
		err = checkOutOwner(dir, fi)
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return &outDir{root: r, name: dir}, nil
}

func (o *outDir) Close() error { return o.root.Close() }

// path is the slash-separated name inside o as the user would write it.
func (o *outDir) path(name string) string { return filepath.Join(o.name, filepath.FromSlash(name)) }

// sub creates the folder name (slash-separated) inside o and opens it.
func (o *outDir) sub(name string) (*outDir, error) {
	err := o.eachDir(name, func(p string) error {
		fi, err := o.root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			// Workers creating the same folder at once are fine.
			if err = o.root.Mkdir(p, atomicfile.DirMode); err == nil || errors.Is(err, fs.ErrExist) {
				fi, err = o.root.Lstat(p)
			}
		}
		if err != nil {
			return fmt.Errorf("create directory %s: %w", o.path(p), err)
		}
		return o.realDir(p, fi)
	})
	if err != nil {
		return nil, err
	}
	r, err := o.root.OpenRoot(filepath.FromSlash(name))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", o.path(name), err)
	}
	return &outDir{root: r, name: o.path(name)}, nil
}

// eachDir calls fn with name and each of its parents inside o, top first,
// stopping at the first error.
func (o *outDir) eachDir(name string, fn func(p string) error) error {
	parts := strings.Split(name, "/")
	for i := range parts {
		if err := fn(filepath.FromSlash(path.Join(parts[:i+1]...))); err != nil {
			return err
		}
	}
	return nil
}

// realDir refuses a link where the bundle has a directory.
func (o *outDir) realDir(p string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: a bundle follows no link inside its directory; remove the link and run again", o.path(p))
	case !fi.IsDir():
		return fmt.Errorf("%s is in the way: the bundle needs a directory there", o.path(p))
	}
	return nil
}

// writeIfChanged replaces the file name of o with data through a temporary
// file and a rename, so a killed run leaves the old file or the new one,
// never half of one; a file that already holds data is not touched, which
// is what makes re-running a finished bundle a no-op. Unlike
// atomicfile.WriteFile it does not fsync each file (two fsyncs a file made
// 10,000 users take minutes): Write syncs the whole file system once
// before the manifest is written, so a manifest on disk still means every
// file it lists is on disk.
func (o *outDir) writeIfChanged(name string, data []byte) error {
	if fi, err := o.root.Lstat(name); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		if old, err := o.root.ReadFile(name); err == nil && bytes.Equal(old, data) {
			return nil
		}
	}
	return o.replace(name, data, false)
}

// replace puts data at name through a new temporary file; the rename
// replaces a link of that name rather than following it. durable fsyncs
// the file and then o before returning.
func (o *outDir) replace(name string, data []byte, durable bool) error {
	f, tmp, err := o.createTemp(name)
	if err != nil {
		return fmt.Errorf("write %s: %w", o.path(name), err)
	}
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = o.root.Rename(tmp, name)
	}
	if err == nil && durable {
		err = o.syncDir()
	}
	if err != nil {
		o.root.Remove(tmp)
		return fmt.Errorf("write %s: %w", o.path(name), err)
	}
	return nil
}

// createTemp makes a new file beside name with a name tempName matches.
// O_EXCL makes a planted file or link of the same name a collision to
// retry, never a file to write through.
func (o *outDir) createTemp(name string) (*os.File, string, error) {
	for {
		tmp := "." + name + ".tmp-" + strconv.FormatUint(rand.Uint64()%1e12, 10)
		f, err := o.root.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, atomicfile.FileMode)
		if !errors.Is(err, fs.ErrExist) {
			return f, tmp, err
		}
	}
}

func (o *outDir) syncDir() error {
	d, err := o.root.Open(".")
	if err != nil {
		return fmt.Errorf("sync %s: %w", o.name, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", o.name, err)
	}
	return nil
}

// tempName matches the temporary files of createTemp and atomicfile.
var tempName = regexp.MustCompile(`^\..+\.tmp-[0-9]+$`)

// removeTemps deletes temporary files a killed run left in o. The walk
// descends no link: a DirEntry of one is not a directory.
func (o *outDir) removeTemps() error {
	return fs.WalkDir(o.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("bundle directory %s: %w", o.name, err)
		}
		if !d.IsDir() && tempName.MatchString(d.Name()) {
			if err := o.root.Remove(filepath.FromSlash(p)); err != nil {
				return fmt.Errorf("remove leftover temporary file: %w", err)
			}
		}
		return nil
	})
}

// removeStale deletes the files old listed that m does not, and their
// directories once empty: the users dropped from the list since. A file
// goes only when it still holds the bytes old recorded and is reached
// through real directories, so a manifest planted or edited in o deletes
// nothing but what a bundle wrote there, and a file a person changed since
// is kept.
func (o *outDir) removeStale(old, m *Manifest) {
	keep := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		keep[f.Path] = true
	}
	for _, f := range old.Files {
		if keep[f.Path] || f.Path != path.Clean(f.Path) || !filepath.IsLocal(filepath.FromSlash(f.Path)) {
			continue
		}
		if o.removeWritten(f) {
			// Fails harmlessly while other files remain in the folder.
			o.root.Remove(filepath.FromSlash(path.Dir(f.Path)))
		}
	}
}

// removeWritten removes f's file if it holds what f records; true when the
// file is gone.
func (o *outDir) removeWritten(f ManifestFile) bool {
	if dir := path.Dir(f.Path); dir != "." {
		err := o.eachDir(dir, func(p string) error {
			fi, err := o.root.Lstat(p)
			if err != nil {
				return err
			}
			return o.realDir(p, fi)
		})
		if err != nil {
			return false
		}
	}
	name := filepath.FromSlash(f.Path)
	fi, err := o.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(f.Size) {
		return false
	}
	data, err := o.root.ReadFile(name)
	sum := sha256.Sum256(data)
	if err != nil || hex.EncodeToString(sum[:]) != f.SHA256 {
		return false
	}
	return o.root.Remove(name) == nil
}
