package enroll

import (
	"crypto/sha256"
	"path/filepath"
)

// linksPath is where these tests keep the links file of the state
// directory dir; the site reads whichever file it is given.
func linksPath(dir string) string { return filepath.Join(dir, "enroll-links.json") }

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
