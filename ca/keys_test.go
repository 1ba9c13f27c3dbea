package ca

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
)

// TestWrongPasswordNeverLooksDamaged: CBC padding lets about one wrong
// password in 256 through as noise; every one of them must still read as
// a wrong password, not as a damaged file. openssl makes the key, with one
// PBKDF2 iteration so thousands of tries are cheap.
func TestWrongPasswordNeverLooksDamaged(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.pem")
	testtool.MustRun(t, nil, "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", plain)
	enc := filepath.Join(dir, "key.pem")
	testtool.MustRun(t, nil, "openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-iter", "1", "-in", plain, "-out", enc, "-passout", "pass:right")
	if _, err := readEncryptedKey(enc, []byte("right")); err != nil {
		t.Fatalf("the right password: %v", err)
	}
	for i := range 3000 {
		_, err := readEncryptedKey(enc, []byte(fmt.Sprintf("wrong %d", i)))
		if !errors.Is(err, ErrWrongPassword) || strings.Contains(err.Error(), "is damaged") {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	// A damaged envelope is still called damaged.
	if err := os.WriteFile(enc, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readEncryptedKey(enc, []byte("right")); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("damaged envelope: %v", err)
	}
}
