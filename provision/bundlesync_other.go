//go:build !linux

package provision

import (
	"fmt"
	"os"
	"path/filepath"
)

// syncWritten fsyncs each written file where there is no syncfs.
func syncWritten(dir string, written []string) error {
	for _, name := range written {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return fmt.Errorf("sync bundle: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync bundle %s: %w", name, err)
		}
	}
	return nil
}
