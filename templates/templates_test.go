package templates

import (
	"io/fs"
	"testing"
)

func TestEveryTemplateReadable(t *testing.T) {
	n := 0
	err := fs.WalkDir(FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := Read(path)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", path)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no templates embedded")
	}
	if _, err := Read("no/such.tpl"); err == nil {
		t.Fatal("reading a missing template succeeded")
	}
}
