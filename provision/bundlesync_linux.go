package provision

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// syncWritten makes every file written so far durable with one syncfs of
// the bundle's file system, instead of an fsync per file.
func syncWritten(o *outDir, _ []string) error {
	d, err := o.root.Open(".")
	if err != nil {
		return fmt.Errorf("sync bundle: %w", err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync bundle %s: %w", o.name, err)
	}
	return nil
}
