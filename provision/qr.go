package provision

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/skip2/go-qrcode"
)

// MaxQRURL bounds what goes into a QR code. An enrollment URL with a
// SHA-256 fingerprint needs about 120 bytes (version 6-7); 512 bytes is
// still a code phones read off a printed sheet, while a whole certificate
// (1,100+ bytes of base64 for RSA 2048, versions 23-27) is refused.
const MaxQRURL = 512

// QR is a QR code holding an http(s) URL, nothing else: a device cannot
// install a certificate from a QR, but it can open the page that serves it.
type QR struct {
	// modules are the dark (true) and light modules, quiet zone included,
	// built once: go-qrcode re-runs its mask search on every rendering.
	modules [][]bool
}

// NewQR validates u (see CheckQRURL) and encodes it at level Medium, which
// survives a smudged printout without growing the code much.
func NewQR(u string) (*QR, error) {
	if err := CheckQRURL(u); err != nil {
		return nil, err
	}
	c, err := qrcode.New(u, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("QR code for %q: %w", u, err)
	}
	return &QR{modules: c.Bitmap()}, nil
}

// CheckQRURL accepts absolute http and https URLs with a host, without
// credentials, whitespace or control characters, of at most MaxQRURL bytes.
func CheckQRURL(u string) error {
	if len(u) > MaxQRURL {
		return fmt.Errorf("QR URL of %d bytes: at most %d; a QR code carries a link, never a certificate", len(u), MaxQRURL)
	}
	if !utf8.ValidString(u) {
		return errors.New("QR URL is not valid UTF-8")
	}
	if strings.ContainsFunc(u, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("QR URL %q: contains whitespace or control characters", u)
	}
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("QR URL %q: %w", u, err)
	}
	if s := strings.ToLower(p.Scheme); s != "http" && s != "https" {
		return fmt.Errorf("QR URL %q: scheme %q; only http and https links go into a QR code", u, p.Scheme)
	}
	if p.Host == "" || p.Hostname() == "" {
		return fmt.Errorf("QR URL %q: no host", u)
	}
	if p.User != nil {
		return fmt.Errorf("QR URL %q: holds credentials; a QR code on a sheet must not", u)
	}
	return nil
}

// SVG draws the code as one path of module rectangles, with the quiet zone,
// scalable for printed sheets. It holds no text, so nothing needs escaping.
func (q *QR) SVG() []byte {
	bm := q.modules
	n := len(bm)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`+"\n", n, n, n*8, n*8)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", n, n)
	b.WriteString(`<path fill="#000000" d="`)
	for y, row := range bm {
		for x := 0; x < n; {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < n && row[x] {
				x++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	b.WriteString("\"/>\n</svg>\n")
	return b.Bytes()
}

// Terminal renders two module rows per text line with half blocks. Like
// `qrencode -t UTF8` it draws the light modules, so the code reads right on
// the usual light-on-dark terminal (on a light terminal it shows inverted,
// which most phone scanners still read).
func (q *QR) Terminal() string {
	bm := q.modules
	light := func(y, x int) bool { return y >= len(bm) || !bm[y][x] }
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		for x := range bm[y] {
			switch top, bottom := light(y, x), light(y+1, x); {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
