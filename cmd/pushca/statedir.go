package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/push"
)

// checkOutOfState refuses an output directory equal to, inside or around
// the state directory: a bundle is made to be copied, mailed and printed,
// and beside it or within it there would sit the server keys, the admin
// token and the password hashes. Both are compared with every link
// resolved, since a link is how one ends up inside the other unnoticed.
func checkOutOfState(out, dir string) error {
	o, err := realPath(out)
	if err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	d, err := realPath(dir)
	if err != nil {
		return fmt.Errorf("--dir %s: %w", dir, err)
	}
	if within(o, d) {
		return fmt.Errorf("--out %s is inside the state directory %s (--dir), beside its keys and tokens: write the bundle elsewhere", out, dir)
	}
	if within(d, o) {
		return fmt.Errorf("--out %s holds the state directory %s (--dir): a copy of the bundle would carry its keys and tokens; write the bundle elsewhere", out, dir)
	}
	return nil
}

// within says whether path p is dir or below it; both are absolute and
// clean.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// realPath is p made absolute with every link resolved as far as p exists;
// the rest, still to be created, is appended as given.
func realPath(p string) (string, error) {
	cur, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		parent := filepath.Dir(cur)
		if !errors.Is(err, fs.ErrNotExist) || parent == cur {
			return "", err
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}

// maxModeWarnings bounds the lax directories named one by one: a tree
// chmodded 0777 has one for every certificate issued.
const maxModeWarnings = 3

// checkStateModes looks at the state directory's modes before a command
// reads it, as ssh does with ~/.ssh. A directory that group or others may
// write is warned about on w: they could swap the root every package
// installs. A key or secret file they may read or write is refused, since
// it must be taken as leaked; the error names each and the chmod that
// fixes it. A missing directory is left to the command to report.
func checkStateModes(w io.Writer, dir string) error {
	// Windows makes up these bits; its ACLs decide instead.
	if runtime.GOOS == "windows" {
		return nil
	}
	dir = filepath.Clean(dir)
	secret := secretFiles(dir)
	var lax, exposed []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm()
		switch {
		case d.IsDir() && perm&0o022 != 0:
			lax = append(lax, fmt.Sprintf("%s (mode %04o)", p, perm))
		case !d.IsDir() && perm&0o066 != 0 && secret(p):
			exposed = append(exposed, fmt.Sprintf("%s (mode %04o)", p, perm))
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--dir %s: %w", dir, err)
	}
	for i, l := range lax {
		if i == maxModeWarnings {
			fmt.Fprintf(w, "pushca: warning: --dir: and %d more such directories\n", len(lax)-i)
			break
		}
		fmt.Fprintf(w, "pushca: warning: --dir: %s is writable by group or others, who could replace what pushca reads there; chmod -R go-w %s\n", l, dir)
	}
	if len(exposed) > 0 {
		return fmt.Errorf("--dir: keys or secrets readable or writable by group or others: %s. pushca refuses to use them, as ssh does: run chmod -R go-rwx %s, and replace any that others may have read",
			strings.Join(exposed, ", "), dir)
	}
	return nil
}

// secretFiles says which files of the state directory dir hold keys,
// passwords or tokens, by the names their owners give them.
func secretFiles(dir string) func(path string) bool {
	l := ca.Layout{Dir: dir}
	secretsDir := filepath.Dir(l.RootKey()) + string(filepath.Separator)
	serverKey := filepath.Base(l.ServerKey("", ca.Slot{}))
	q := quickstartFiles{dir: dir}
	named := map[string]bool{
		push.UsersPath(dir): true, push.TokenPath(dir): true, push.MetricsTokenPath(dir): true, push.LinksPath(dir): true,
		q.caPassword(): true, q.userPassword(): true,
	}
	return func(p string) bool {
		return named[p] || strings.HasPrefix(p, secretsDir) || filepath.Base(p) == serverKey
	}
}
