package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/ca"
)

// Running init again (following the README after quickstart, or after an
// init cut off between the CA and its first certificate) says what the
// directory holds and the one command that goes on, before any password
// prompt: no password is given here, so a prompt would fail first.
func TestInitOnWhatIsThereSaysSoBeforePrompting(t *testing.T) {
	half := filepath.Join(t.TempDir(), "half")
	if err := ca.Init(context.Background(), half, ca.InitOptions{Families: []string{"modern"}, Password: []byte("pw")}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{half, "no server certificate: an init was interrupted after making the CA. Finish it with `pushca --dir " + half + " cert issue HOST`"},
		{file, "is a file, not a directory"},
	} {
		r := runPushca(t, nil, "--dir", tc.dir, "init", "--host", "mail.example.com")
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "password") {
			t.Errorf("init --dir %s: exit %d %q, want %q", tc.dir, r.code, r.stderr, tc.want)
		}
	}
	// The command it names finishes the job.
	env := passwordEnv(t, "pw")
	if out := mustPushca(t, env, "--dir", half, "cert", "issue", "mail.example.com"); !strings.Contains(out, "mail.example.com") {
		t.Errorf("cert issue after an interrupted init:\n%s", out)
	}
}
