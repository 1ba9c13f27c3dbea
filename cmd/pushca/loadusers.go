package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/push"
)

// loadPasswordPath is where load keeps its users' password: beside the
// users file, in the directory backups leave out for holding secrets.
func loadPasswordPath(dir string) string {
	return filepath.Join(filepath.Dir(push.UsersPath(dir)), "load-password")
}

// loadCredentials returns the load users' password. When --dir holds a CA
// whose users file this user can write, the load users that are missing
// are created there (with --password-file's password, or one load keeps in
// push/load-password), so that a run against quickstart or serve needs no
// `pushca users add` first; the server re-reads the users by itself (the
// file, or the PostgreSQL table every serve on the CA's database shares). Users
// that exist keep their password, which must be the one given.
func loadCredentials(c *cli.Context, logins []string) ([]byte, error) {
	dir := c.String("dir")
	if _, err := os.Stat(ca.Layout{Dir: dir}.State()); errors.Is(err, fs.ErrNotExist) {
		return readPassword(c, "password of the load users", false)
	}
	users, done, err := openUsers(c)
	if err != nil {
		return nil, fmt.Errorf("load users in %s: %w", dir, err)
	}
	defer done()
	var pw []byte
	if c.String("password-file") != "" {
		pw, err = readSecretFile(c.String("password-file"))
	} else {
		pw, err = keptLoadPassword(loadPasswordPath(dir))
	}
	if err != nil {
		return nil, err
	}
	var created []string
	for _, name := range logins {
		if !users.Has(name) {
			if err := users.Add(name, string(pw)); err != nil {
				return nil, fmt.Errorf("create load user %s: %w", name, err)
			}
			created = append(created, name)
			continue
		}
		if !users.Verify(name, string(pw)) {
			return nil, fmt.Errorf("user %s exists in %s with another password than the load users': give its password with --password-file, or other names with --user and --probe-user", name, dir)
		}
	}
	if len(created) > 0 {
		logger(c).Info("created the load users", "dir", dir, "users", len(created), "first", created[0])
		// A running server sees them once it next looks at the file;
		// a device logging in before that fails, and failures lock out.
		select {
		case <-time.After(push.UsersFileCheck + 100*time.Millisecond):
		case <-c.Context.Done():
			return nil, c.Context.Err()
		}
	}
	return pw, nil
}

// keptLoadPassword reads the password at path, making a random one first
// when there is none.
func keptLoadPassword(path string) ([]byte, error) {
	pw, err := readSecretFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return pw, err
	}
	pw = []byte(rand.Text())
	if err := atomicfile.MkdirAll(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, append(pw, '\n'), atomicfile.FileMode); err != nil {
		return nil, fmt.Errorf("save the load users' password: %w", err)
	}
	return pw, nil
}
