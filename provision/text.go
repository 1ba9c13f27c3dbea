package provision

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"unicode"
	"unicode/utf8"

	"github.com/pushca/pushca/templates"
)

// The per-user documents' templates, parsed on first use and then shared:
// a bundle renders them for every user, and parsing was a tenth of that.
// A parsed text/template is safe for concurrent Execute.
var (
	wmTemplate           = parseOnce("wm", "wm/provisioningdoc.tpl", template.FuncMap{"attr": asciiXML})
	mobileconfigTemplate = parseOnce("mobileconfig", "ios/mobileconfig.tpl", template.FuncMap{"plist": xmlText})
)

func parseOnce(name, file string, funcs template.FuncMap) func() (*template.Template, error) {
	return sync.OnceValues(func() (*template.Template, error) {
		src, err := templates.Read(file)
		if err != nil {
			return nil, err
		}
		t, err := template.New(name).Funcs(funcs).Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", file, err)
		}
		return t, nil
	})
}

// maxText bounds every value that reaches a document: generous for real
// names, small enough that a pasted file is refused rather than packaged.
const maxText = 1024

// maxEcho bounds how much of a refused value a message repeats: enough to
// find it in the file, while a pasted 50,000-character cell would bury the
// message and every line after it.
const maxEcho = 60

// clip quotes s for a message, cut after maxEcho characters with its length
// said.
func clip(s string) string {
	n := 0
	for i := range s {
		if n == maxEcho {
			return fmt.Sprintf("%q… (%d characters)", s[:i], utf8.RuneCountInString(s))
		}
		n++
	}
	return strconv.Quote(s)
}

// checkText refuses what cannot come back out of a document as the same
// text: invalid UTF-8, control characters (XML forbids most, and attribute
// normalisation would change tabs and newlines), and XML's non-characters.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %s: not valid UTF-8", field, clip(s))
	}
	if n := utf8.RuneCountInString(s); n > maxText {
		return fmt.Errorf("%s: %d characters, at most %d", field, n, maxText)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF {
			return fmt.Errorf("%s %s: control or non-XML character %U", field, clip(s), r)
		}
	}
	return nil
}

// xmlText escapes s for element text or a double- or single-quoted
// attribute. checkText has already refused what XML cannot carry.
func xmlText(s string) string {
	var b strings.Builder
	// Writing to a strings.Builder cannot fail.
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// asciiXML is xmlText with every non-ASCII character written as a character
// reference, so Windows Mobile documents are plain ASCII: the reference notes
// that ASCII content satisfies every device whatever its code page.
func asciiXML(s string) string {
	e := xmlText(s)
	var b strings.Builder
	for _, r := range e {
		if r < utf8.RuneSelf {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "&#x%X;", r)
		}
	}
	return b.String()
}

// parseCheck decodes the whole document with encoding/xml: hand-made
// provisioning files in the wild are often malformed, and a device rejects
// them without saying why, so nothing leaves this package unparsed.
func parseCheck(what string, doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	roots := 0
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("%s is not well-formed XML: %w", what, err)
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 {
		return fmt.Errorf("%s has %d root elements, want 1", what, roots)
	}
	return nil
}
