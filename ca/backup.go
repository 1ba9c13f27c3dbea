package ca

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pushca/pushca/internal/atomicfile"
)

// backupSkip are the entries of a state directory a CA backup leaves out:
// the test endpoint's own state (users, admin token, device database),
// quickstart's files, which hold the CA password in clear, and the step-ca
// provisioner's password, which the first signing open after a restore
// replaces with a new key and password.
var backupSkip = []string{"push", "quickstart", "secrets/provisioner_password"}

// Backup writes a consistent snapshot of the CA to w, a gzip-compressed
// tar: the database as one read transaction sees it, and pushca.json,
// config/, certs/, secrets/ and servers/ as they are. The CA keys in
// secrets/ are only ever stored encrypted; the server keys in servers/ are
// the plain files servers read, as on disk. The CA password is never in it.
// It returns the number of entries written.
//
// A CA on PostgreSQL is backed up in the same format: its tables, read in
// one REPEATABLE READ transaction, go into the archive as the bbolt file
// db/pushca.db, and the archive's pushca.json and config/ca*.json name that
// file. So a restore gives a directory on bbolt, with nothing shared, and
// `pushca ca migrate --to postgresql://...` moves it back.
func (r *Reader) Backup(ctx context.Context, w io.Writer) (n int, err error) {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	defer func() {
		if cerr := tw.Close(); err == nil {
			err = cerr
		}
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	}()
	root := r.layout.Dir
	rewritten, err := r.onBolt()
	if err != nil {
		return 0, err
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if slices.Contains(backupSkip, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if p == r.layout.DB() {
			return nil // below, from one read transaction
		}
		if strings.HasPrefix(p, r.layout.DB()+".") {
			return nil // an old database `ca migrate` or `--force` kept aside
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if b, ok := rewritten[p]; ok {
			err = writeData(tw, rel, int64(len(b)), func(w io.Writer) error { _, err := w.Write(b); return err })
		} else {
			err = writeEntry(tw, p, rel, fi)
		}
		if err != nil {
			return fmt.Errorf("back up %s: %w", p, err)
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	rel, _ := filepath.Rel(root, r.layout.DB())
	switch {
	case r.state.DB != "":
		err = r.backupPG(ctx, tw, filepath.ToSlash(rel))
	case r.bdb != nil:
		err = r.bdb.View(func(tx *bolt.Tx) error {
			return writeData(tw, filepath.ToSlash(rel), tx.Size(), func(w io.Writer) error { _, err := tx.WriteTo(w); return err })
		})
	default:
		return n, nil
	}
	if err != nil {
		return n, fmt.Errorf("back up %s: %w", r.layout.database(), err)
	}
	return n + 1, nil
}

// onBolt is what a backup of a CA on PostgreSQL holds instead of
// pushca.json and config/ca*.json: the same, naming the bbolt file. Nil on
// bbolt.
func (r *Reader) onBolt() (map[string][]byte, error) {
	if r.state.DB == "" {
		return nil, nil
	}
	st := r.state
	st.DB = ""
	out := map[string][]byte{}
	b, err := stateJSON(st)
	if err != nil {
		return nil, err
	}
	out[r.layout.State()] = b
	for _, s := range st.slots() {
		cfg, err := readJSONMap(r.layout.StepConfig(s))
		if err != nil {
			return nil, err
		}
		setDBConfig(cfg, dbConfig(r.layout, st))
		if out[r.layout.StepConfig(s)], err = configJSON(r.layout.StepConfig(s), cfg); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// backupPG writes the PostgreSQL tables into the archive as a bbolt file
// named rel, made in a temporary directory.
func (r *Reader) backupPG(ctx context.Context, tw *tar.Writer, rel string) error {
	d, err := dumpPG(ctx, r.state.DB)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "pushca-backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p := filepath.Join(tmp, "pushca.db")
	if err := writeBolt(p, d); err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return writeData(tw, rel, fi.Size(), func(w io.Writer) error { _, err := io.CopyN(w, f, fi.Size()); return err })
}

// writeData writes a regular file entry of size bytes, 0600, that write
// produces.
func writeData(tw *tar.Writer, rel string, size int64, write func(io.Writer) error) error {
	hdr := &tar.Header{Name: rel, Mode: int64(atomicfile.FileMode), Size: size, ModTime: time.Now(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	return write(tw)
}

func writeEntry(tw *tar.Writer, p, rel string, fi fs.FileInfo) error {
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = rel
	hdr.Uname, hdr.Gname = "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(tw, f, fi.Size())
	return err
}

// maxRestoreBytes bounds what a restore writes: a CA's state is kilobytes
// to megabytes, and a hostile archive must not fill the disk.
const maxRestoreBytes = 1 << 30

// Restore extracts a backup made by Backup into dir. It refuses an existing
// non-empty dir unless force is set, and then moves that directory aside
// (to dir.replaced-TIME) rather than deleting it. The archive is extracted
// into a temporary sibling and renamed into place only once complete, so a
// bad archive or a crash leaves dir as it was. Entries must be regular
// files, directories or links to a plain name in their own directory (the
// "current" links), under dir; anything else is refused with its name.
func Restore(ctx context.Context, src io.Reader, name, dir string, force bool) (moved string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := CheckInitTarget(abs); err != nil && !force {
		return "", fmt.Errorf("%w; restore with --force to move it aside", err)
	}
	parent := filepath.Dir(abs)
	if err := atomicfile.MkdirAll(parent); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(abs)+".restore-*")
	if err != nil {
		return "", fmt.Errorf("restore into %s: %w", parent, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, atomicfile.DirMode); err != nil {
		return "", err
	}
	if err := extract(ctx, src, tmp); err != nil {
		return "", fmt.Errorf("restore %s: %w", name, err)
	}
	if _, err := readState(Layout{Dir: tmp}); err != nil {
		return "", fmt.Errorf("restore %s: not a pushca backup: %w", name, err)
	}
	if _, err := os.Stat(abs); err == nil {
		moved = fmt.Sprintf("%s.replaced-%s", abs, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(abs, moved); err != nil {
			return "", fmt.Errorf("move %s aside: %w", abs, err)
		}
	}
	if err := os.Rename(tmp, abs); err != nil {
		return moved, fmt.Errorf("move the restored directory into %s: %w", abs, err)
	}
	return moved, atomicfile.SyncDir(parent)
}

func extract(ctx context.Context, src io.Reader, dir string) error {
	zr, err := gzip.NewReader(src)
	if err != nil {
		return fmt.Errorf("not a gzip-compressed backup: %w", err)
	}
	tr := tar.NewReader(zr)
	var written int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the archive: %w", err)
		}
		name := path.Clean(hdr.Name)
		if !fs.ValidPath(name) || name == "." || strings.Contains(hdr.Name, `\`) {
			return fmt.Errorf("entry %q: not a path inside the state directory", hdr.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, atomicfile.DirMode)
		case tar.TypeReg:
			if written += hdr.Size; hdr.Size < 0 || written > maxRestoreBytes {
				return fmt.Errorf("entry %q: the archive holds more than %d bytes, more than any CA", hdr.Name, int64(maxRestoreBytes))
			}
			err = writeRestored(target, tr, hdr.Size)
		case tar.TypeSymlink:
			// Only a "current" link to a version beside it.
			if strings.ContainsAny(hdr.Linkname, `/\`) || hdr.Linkname == "" || hdr.Linkname == "." || hdr.Linkname == ".." {
				return fmt.Errorf("entry %q: link to %q, not to a version in its own directory", hdr.Name, hdr.Linkname)
			}
			if err = os.MkdirAll(filepath.Dir(target), atomicfile.DirMode); err == nil {
				err = os.Symlink(hdr.Linkname, target)
			}
		default:
			return fmt.Errorf("entry %q: type %q is not a file, directory or link", hdr.Name, hdr.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
}

// writeRestored writes one file, 0600. O_EXCL refuses a second entry of
// the same name, and any link an earlier entry made (links name only a
// version beside them, so nothing can be written outside the directory).
func writeRestored(target string, r io.Reader, size int64) error {
	if err := os.MkdirAll(filepath.Dir(target), atomicfile.DirMode); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, atomicfile.FileMode)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
