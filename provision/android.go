package provision

import (
	"bytes"
	"fmt"
	"text/template"
	"time"

	"github.com/pushca/pushca/templates"
)

// AndroidPackage is what an Android user needs: the root as DER (the form
// the "CA certificate" installer reads) and plain-text instructions naming
// the file and its fingerprints.
type AndroidPackage struct {
	CRT, Instructions []byte
}

// Android builds the package; file is the name the .crt will be given,
// which the instructions quote.
func Android(c Chain, file string) (AndroidPackage, error) {
	if err := c.check(); err != nil {
		return AndroidPackage{}, err
	}
	if err := checkText("file name", file); err != nil {
		return AndroidPackage{}, err
	}
	src, err := templates.Read("android/instructions.txt.tpl")
	if err != nil {
		return AndroidPackage{}, err
	}
	t, err := template.New("android").Parse(string(src))
	if err != nil {
		return AndroidPackage{}, fmt.Errorf("template android/instructions.txt.tpl: %w", err)
	}
	var b bytes.Buffer
	err = t.Execute(&b, map[string]string{
		"Name":     c.Root.Subject.CommonName,
		"File":     file,
		"SHA256":   SHA256(c.Root).Colon(),
		"SHA1":     SHA1(c.Root).Colon(),
		"NotAfter": c.Root.NotAfter.UTC().Format(time.DateOnly),
	})
	if err != nil {
		return AndroidPackage{}, fmt.Errorf("render Android instructions: %w", err)
	}
	return AndroidPackage{CRT: c.Root.Raw, Instructions: b.Bytes()}, nil
}
