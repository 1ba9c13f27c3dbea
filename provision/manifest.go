package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ManifestName is the manifest's file name at the top of a bundle.
const ManifestName = "manifest.json"

// Manifest lists everything a bundle run wrote, so the output can be
// checked (sha256sum) and a later run can tell its own files from others.
type Manifest struct {
	Version string `json:"pushca_version"`
	// Inputs are what produced the bundle (CSV digest, flags), as given by
	// the caller; encoding/json writes map keys sorted.
	Inputs map[string]string `json:"inputs"`
	Root   struct {
		Subject string `json:"subject"`
		SHA256  string `json:"sha256"`
		SHA1    string `json:"sha1"`
	} `json:"root"`
	Users   int        `json:"users"`
	Skipped []RowError `json:"skipped,omitempty"`
	// Files are sorted by Path, which is slash-separated and relative to
	// the bundle directory.
	Files []ManifestFile `json:"files"`
}

// ManifestFile is one written file.
type ManifestFile struct {
	Path   string `json:"path"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	// User is empty for the shared files.
	User string `json:"user,omitempty"`
}

// ReadManifest reads dir's manifest; a missing one is (nil, nil).
func ReadManifest(dir string) (*Manifest, error) {
	r, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read bundle manifest: %w", err)
	}
	defer r.Close()
	return (&outDir{root: r, name: dir}).readManifest()
}

// readManifest reads o's manifest, which must be a file of its own: a link
// would let whoever planted it choose what the next run removes.
func (o *outDir) readManifest() (*Manifest, error) {
	fi, err := o.root.Lstat(ManifestName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file; remove it and run again")
	}
	var b []byte
	if err == nil {
		b, err = o.root.ReadFile(ManifestName)
	}
	if err != nil {
		return nil, fmt.Errorf("read bundle manifest %s: %w", o.path(ManifestName), err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("bundle manifest %s: %w", o.path(ManifestName), err)
	}
	return &m, nil
}

func (m *Manifest) encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bundle manifest: %w", err)
	}
	return append(b, '\n'), nil
}
