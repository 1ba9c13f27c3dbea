package state

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/push/internal/filewatch"
)

// ParseUsers reads an htpasswd-style file of "name:bcrypt-hash" lines (the
// format of `htpasswd -B`), ignoring blank lines and # comments.
func ParseUsers(data []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want name:hash", n)
		}
		if err := CheckUser(name, []byte(hash)); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("line %d: user %s listed twice", n, name)
		}
		out[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func formatUsers(users map[string][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("# pushca users: name:bcrypt-hash (htpasswd -B compatible). Edit with `pushca users`.\n")
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%s:%s\n", n, users[n])
	}
	return b.Bytes()
}

// FileUsers keeps the users in an htpasswd-style file at path (see
// ParseUsers), 0600; a missing file is an empty list.
func FileUsers(path string) UserSource {
	// An interval of 0: push.Users decides how often to look.
	return &fileUsers{path: path, watch: filewatch.New(0)}
}

type fileUsers struct {
	path  string
	watch *filewatch.Watch
}

func (f *fileUsers) String() string { return f.path }

// Changed compares the file's stamp (identity, time, size) with the last.
func (f *fileUsers) Changed(context.Context) (bool, error) {
	return f.watch.Changed(f.path), nil
}

// Read vouches, when the file no longer parses, for the users of last
// whose line it still holds unchanged.
func (f *fileUsers) Read(_ context.Context, last map[string][]byte) (map[string][]byte, error) {
	data, hashes, err := f.parse()
	if err != nil && data != nil {
		return salvage(data, last), err
	}
	return hashes, err
}

func (f *fileUsers) Edit(_ context.Context, name string, fn func([]byte) ([]byte, error)) error {
	_, hashes, err := f.parse()
	if err != nil {
		return err
	}
	next, err := fn(hashes[name])
	if err != nil {
		return err
	}
	if next == nil {
		delete(hashes, name)
	} else {
		hashes[name] = next
	}
	if err := atomicfile.MkdirAll(filepath.Dir(f.path)); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(f.path, formatUsers(hashes), atomicfile.FileMode); err != nil {
		return fmt.Errorf("save users: %w", err)
	}
	return nil
}

// parse reads and parses the file; data is nil when it could not be read.
func (f *fileUsers) parse() (data []byte, hashes map[string][]byte, err error) {
	data, err = os.ReadFile(f.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return []byte{}, map[string][]byte{}, nil
	case err != nil:
		return nil, nil, fmt.Errorf("read users file: %w", err)
	}
	if hashes, err = ParseUsers(data); err != nil {
		return data, nil, fmt.Errorf("users file %s: %w", f.path, err)
	}
	return data, hashes, nil
}

// salvage returns the users of last whose line data holds once and
// unchanged.
func salvage(data []byte, last map[string][]byte) map[string][]byte {
	lines, seen := map[string]string{}, map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, hash, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			lines[name] = hash
			seen[name]++
		}
	}
	out := map[string][]byte{}
	for name, hash := range last {
		if seen[name] == 1 && lines[name] == string(hash) {
			out[name] = hash
		}
	}
	return out
}
