//go:build !linux

package provision

import (
	"fmt"
	"path/filepath"
)

// syncWritten fsyncs each written file where there is no syncfs.
func syncWritten(o *outDir, written []string) error {
	for _, name := range written {
		f, err := o.root.Open(filepath.FromSlash(name))
		if err != nil {
			return fmt.Errorf("sync bundle: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync bundle %s: %w", o.path(name), err)
		}
	}
	return nil
}
