//go:build unix

package provision

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOutOwner refuses an output directory that another local user could
// have prepared: one they own, or one that group or others may write, where
// they could plant links or a manifest between two runs.
func checkOutOwner(dir string, fi fs.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("bundle directory %s belongs to user id %d, not to you: write the bundle into a directory of your own", dir, st.Uid)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("bundle directory %s is writable by group or others (mode %04o), who could plant links or a manifest in it: chmod go-w %s, or write the bundle elsewhere", dir, perm, dir)
	}
	return nil
}
