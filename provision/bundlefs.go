package provision

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/pushca/pushca/internal/atomicfile"
)

// writeIfChanged replaces path with data through a temporary file and a
// rename, so a killed run leaves the old file or the new one, never half of
// one; a file that already holds data is not touched, which is what makes
// re-running a finished bundle a no-op. Unlike atomicfile.WriteFile it does
// not fsync each file (two fsyncs a file made 10,000 users take minutes):
// Write syncs the whole file system once before the manifest is written, so
// a manifest on disk still means every file it lists is on disk.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	dir, base := filepath.Split(path)
	if err := os.MkdirAll(dir, atomicfile.DirMode); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes it 0600, the state directory's mode for files.
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// tempName matches the temporary files of writeIfChanged and atomicfile.
var tempName = regexp.MustCompile(`^\..+\.tmp-[0-9]+$`)

// removeTemps deletes temporary files a killed run left in dir.
func removeTemps(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("bundle directory: %w", err)
		}
		if !d.IsDir() && tempName.MatchString(d.Name()) {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove leftover temporary file: %w", err)
			}
		}
		return nil
	})
}

// removeStale deletes the files old listed that m does not, and their
// directories once empty: the users dropped from the list since. Only files
// pushca listed are touched, never anything else in dir.
func removeStale(dir string, old, m *Manifest) {
	keep := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		keep[f.Path] = true
	}
	for _, f := range old.Files {
		if keep[f.Path] || !filepath.IsLocal(filepath.FromSlash(f.Path)) {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.Remove(p); err == nil || errors.Is(err, fs.ErrNotExist) {
			// Fails harmlessly while other files remain in the folder.
			os.Remove(filepath.Dir(p))
		}
	}
}
