package provision

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
)

// qrURLs are what enrollment pages put in codes, up to the length limit.
func qrURLs() []string {
	long := "https://mail.example.com/enroll/" + strings.Repeat("a", MaxQRURL-len("https://mail.example.com/enroll/"))
	return []string{
		"http://mail.example.com/",
		"https://mail.example.com/enroll?user=jdoe&fp=04BFA415B764F82F817B135D558A1832F1A328A9C0B80F6DCF4C8A9C0B80F6DCF4C",
		"https://mail.example.com:8443/root_ca.crt",
		"HTTPS://Mail.Example.COM/%E2%9C%93?x=%22%3C%3E",
		long,
	}
}

// zbar decodes an image file and returns exactly what the code holds.
func zbar(t *testing.T, file string) string {
	t.Helper()
	out := testtool.MustRun(t, nil, "zbarimg", "--raw", "-q", file)
	return strings.TrimSuffix(string(out), "\n")
}

// pyToPBM is an outside reading of the SVG and terminal renderings: Python
// rebuilds the module grid from the drawing and writes a PBM (4 pixels a
// module) that zbarimg can decode.
const pyToPBM = `
import re, sys, xml.etree.ElementTree as ET
kind, src = sys.argv[1], sys.stdin.read()
if kind == "svg":
    root = ET.fromstring(src)
    ns = "{http://www.w3.org/2000/svg}"
    n = int(root.get("viewBox").split()[2])
    grid = [[0] * n for _ in range(n)]
    d = root.find(ns + "path").get("d")
    for x, y, w, w2 in re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", d):
        assert w == w2
        for i in range(int(w)):
            grid[int(y)][int(x) + i] = 1
    assert re.sub(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", "", d) == "", "unparsed path data"
else:
    lines = src.rstrip("\n").split("\n")
    # the glyph marks LIGHT modules; a dark module is 1 in PBM
    halves = {"\u2588": (0, 0), "\u2580": (0, 1), "\u2584": (1, 0), " ": (1, 1)}
    grid = []
    for line in lines:
        top, bottom = zip(*(halves[c] for c in line))
        grid += [list(top), list(bottom)]
    n = len(grid[0])
    grid = grid[:n]
s = 4
print("P1", n * s, len(grid) * s)
for row in grid:
    line = " ".join(str(v) for v in row for _ in range(s))
    for _ in range(s):
        print(line)
`

func TestQRDecodesToURL(t *testing.T) {
	dir := t.TempDir()
	for i, u := range qrURLs() {
		q, err := NewQR(u)
		if err != nil {
			t.Fatalf("%q: %v", u, err)
		}
		for _, scale := range []int{2, 4, 9} {
			png, err := q.PNG(scale)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, "q.png")
			if err := os.WriteFile(f, png, 0o600); err != nil {
				t.Fatal(err)
			}
			if got := zbar(t, f); got != u {
				t.Errorf("PNG %d at scale %d decodes to %q, want %q", i, scale, got, u)
			}
		}
		svg := q.SVG()
		testtool.MustRun(t, svg, "xmllint", "--noout", "-")
		for kind, src := range map[string][]byte{"svg": svg, "terminal": []byte(q.Terminal())} {
			pbm := filepath.Join(dir, kind+".pbm")
			if err := os.WriteFile(pbm, testtool.MustRun(t, src, "python3", "-c", pyToPBM, kind), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := zbar(t, pbm); got != u {
				t.Errorf("%s %d decodes to %q, want %q", kind, i, got, u)
			}
		}
	}
}

// TestQRPNGIsImagePNGs pins the hand-written PNG to what image/png writes
// for the same 1-bit image, so whatever reads image/png's output reads it;
// zbarimg reads it in TestQRDecodesToURL.
func TestQRPNGIsImagePNGs(t *testing.T) {
	for i, u := range qrURLs() {
		q, err := NewQR(u)
		if err != nil {
			t.Fatal(err)
		}
		for _, scale := range []int{1, 3, 8} {
			got, err := q.PNG(scale)
			if err != nil {
				t.Fatal(err)
			}
			n := len(q.modules) * scale
			img := image.NewPaletted(image.Rect(0, 0, n, n), color.Palette{color.White, color.Black})
			for y := range n {
				for x := range n {
					if q.modules[y/scale][x/scale] {
						img.SetColorIndex(x, y, 1)
					}
				}
			}
			var want bytes.Buffer
			if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&want, img); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("URL %d at scale %d: %d bytes differ from image/png's %d", i, scale, len(got), want.Len())
			}
		}
	}
}

func TestQRRefuses(t *testing.T) {
	for _, u := range []string{
		"",
		"mail.example.com/enroll",
		"ftp://mail.example.com/root.crt",
		"javascript:alert(1)",
		"data:application/x-x509-ca-cert;base64,MIIDHzCCAgegAwIBAgIBATANBgkqhkiG9w0BAQUFADAx",
		"https:///path",
		"https://user:secret@mail.example.com/",
		"https://mail.example.com/a b",
		"https://mail.example.com/\n",
		"https://mail.example.com/\xff",
		"https://mail.example.com/" + strings.Repeat("a", MaxQRURL),
		"-----BEGIN CERTIFICATE-----",
	} {
		if _, err := NewQR(u); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}
