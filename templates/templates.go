package templates

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed files
var files embed.FS

// Read returns the template at name, a path below files/ such as
// "x509/leaf.tpl".
func Read(name string) ([]byte, error) {
	b, err := files.ReadFile("files/" + name)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return b, nil
}

// FS returns the embedded templates rooted at files/, for callers that parse
// several at once (html/template.ParseFS).
func FS() fs.FS {
	sub, err := fs.Sub(files, "files")
	if err != nil {
		// fs.Sub fails only on an invalid path literal, which is fixed here.
		panic(err)
	}
	return sub
}
