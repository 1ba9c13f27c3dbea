package provision

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pushca/pushca/templates"
)

// Sheet is one user's enrollment instructions, printed in a bundle and
// served at the user's private link.
type Sheet struct {
	// Chain is the root, with the intermediates that the CAB installing
	// the certificates (Windows Mobile) puts into the CA store.
	Chain       Chain
	Account     Account
	DisplayName string
	// Devices are the user's device kinds (profile names).
	Devices []string
	// URL is the user's enrollment link, drawn as a QR code; empty for none.
	URL string
	// QR is URL's code as PNG when the caller has it already; nil makes it.
	QR []byte
	// Expires is when URL stops working; zero is not shown.
	Expires time.Time
	Links   SheetLinks
	// Combined says the account CAB installs the certificates too.
	Combined bool
}

// SheetLinks are the hrefs of the downloads, relative to the sheet; a
// kind's link is empty when the user has no device of that kind.
type SheetLinks struct {
	RootCAB, AccountCAB, Mobileconfig, RootCRT string
}

// HTMLPages renders the HTML sheets and pages. Parse once and share it:
// html/template is safe for concurrent use once parsed.
type HTMLPages struct{ t *template.Template }

// ParseHTML parses the shared layout with one page template under
// templates/files/html (e.g. "sheet.html.tpl"); each page is its own set,
// since each defines its own title and body.
func ParseHTML(page string) (*HTMLPages, error) {
	t, err := template.ParseFS(templates.FS(), "html/layout.html.tpl", "html/"+page)
	if err != nil {
		return nil, fmt.Errorf("HTML template %s: %w", page, err)
	}
	return &HTMLPages{t: t}, nil
}

// sheetPages is the user sheet, parsed once per process: a bundle and
// every per-user enrollment page render it.
var sheetPages = sync.OnceValues(func() (*HTMLPages, error) { return ParseHTML("sheet.html.tpl") })

// Render executes the page with data.
func (p *HTMLPages) Render(w io.Writer, data any) error {
	return p.t.ExecuteTemplate(w, "layout", data)
}

// RootView is what every page shows about the root.
type RootView struct {
	RootName, NotAfter, SHA256, SHA1 string
	// Intermediates says the Windows Mobile root CAB installs
	// intermediates too.
	Intermediates bool
}

// NewRootView describes c's root for a page.
func NewRootView(c Chain) RootView {
	return RootView{
		RootName:      c.Root.Subject.CommonName,
		NotAfter:      c.Root.NotAfter.UTC().Format(time.DateOnly),
		SHA256:        SHA256(c.Root).Colon(),
		SHA1:          SHA1(c.Root).Colon(),
		Intermediates: len(c.Intermediates) > 0,
	}
}

type sheetView struct {
	RootView
	Who, Server, User, Domain, Email string
	URL, Expires                     string
	QR                               template.URL
	WM, IOS, Android, Combined       bool
	WMProfiles                       string
	Links                            linkView
}

type linkView struct {
	SheetLinks
	RootCABName, AccountCABName, MobileconfigName, RootCRTName string
}

// Render writes the sheet with pages parsed from "sheet.html.tpl".
func (s Sheet) Render(w io.Writer, pages *HTMLPages) error {
	if err := s.Chain.check(); err != nil {
		return err
	}
	if err := s.Account.check(); err != nil {
		return err
	}
	v := sheetView{
		RootView: NewRootView(s.Chain),
		Who:      or(s.DisplayName, s.Account.User),
		Server:   s.Account.Server, User: s.Account.User, Domain: s.Account.Domain, Email: s.Account.Email,
		URL:      s.URL,
		Combined: s.Combined,
		Links: linkView{
			SheetLinks:       s.Links,
			RootCABName:      path.Base(s.Links.RootCAB),
			AccountCABName:   path.Base(s.Links.AccountCAB),
			MobileconfigName: path.Base(s.Links.Mobileconfig),
			RootCRTName:      path.Base(s.Links.RootCRT),
		},
	}
	if !s.Expires.IsZero() {
		v.Expires = s.Expires.UTC().Format("2006-01-02 15:04 MST")
	}
	var wm []string
	for _, d := range s.Devices {
		switch {
		case strings.HasPrefix(d, "wm"):
			wm = append(wm, d)
		case d == "ios":
			v.IOS = true
		case d == "android":
			v.Android = true
		}
	}
	slices.Sort(wm)
	v.WM, v.WMProfiles = len(wm) > 0, strings.Join(wm, ", ")
	if s.URL != "" {
		png := s.QR
		if png == nil {
			var err error
			if png, err = QRPNG(s.URL); err != nil {
				return err
			}
		}
		v.QR = DataURI("image/png", png)
	}
	if err := pages.Render(w, v); err != nil {
		return fmt.Errorf("render sheet for %q: %w", s.Account.User, err)
	}
	return nil
}

// DataURI inlines bytes into a page, so a sheet needs no second file and a
// served page no second request.
func DataURI(mediaType string, b []byte) template.URL {
	// The media type is a constant of the caller and the payload base64, so
	// nothing here can break out of the attribute.
	return template.URL("data:" + mediaType + ";base64," + base64.StdEncoding.EncodeToString(b))
}

// QRPNG is the QR code of an enrollment URL as sheets and pages show it:
// 4 pixels a module, large enough for a phone camera off paper or a screen.
func QRPNG(url string) ([]byte, error) {
	q, err := NewQR(url)
	if err != nil {
		return nil, err
	}
	return q.PNG(4)
}
