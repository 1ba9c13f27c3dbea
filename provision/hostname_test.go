package provision

import (
	"strings"
	"testing"
)

func TestServerNameLikeCertificateNames(t *testing.T) {
	for in, want := range map[string][2]string{
		"mail.example.com":      {"mail.example.com", "mail.example.com"},
		"Mail.Example.COM.":     {"mail.example.com", "mail.example.com"},
		"bücher.example":        {"xn--bcher-kva.example", "bücher.example"},
		"xn--bcher-kva.example": {"xn--bcher-kva.example", "bücher.example"},
		"10.0.0.5":              {"10.0.0.5", "10.0.0.5"},
		"exchange":              {"exchange", "exchange"},
	} {
		ascii, display, err := ServerName(in)
		if err != nil || ascii != want[0] || display != want[1] {
			t.Errorf("%q: %q %q %v, want %q", in, ascii, display, err, want)
		}
	}
	for _, bad := range []string{"", `mail<x>&"y`, "https://mail.example.com/", "mail example.com", "a_b.example", "*.example.com",
		"-mail.example", "mail-.example", "a..b", strings.Repeat("a", 64) + ".example", strings.Repeat("a.", 127) + "ab", "mail\x00.example", "xn--zz.example"} {
		if ascii, _, err := ServerName(bad); err == nil {
			t.Errorf("%q accepted as %q", bad, ascii)
		}
	}
}

// FuzzServerName: what ServerName accepts is an ASCII name that it gives
// back unchanged, that an account accepts, and that the display form
// leads back to.
func FuzzServerName(f *testing.F) {
	for _, s := range append(fuzzSeeds, "bücher.example", "xn--bcher-kva.example", "Mail.Example.COM.", "10.0.0.5", "::1", "ＭＡＩＬ.example", "a--b.example") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ascii, display, err := ServerName(s)
		if err != nil {
			return
		}
		for _, r := range ascii {
			if r >= 0x80 {
				t.Fatalf("%q: ASCII form %q", s, ascii)
			}
		}
		if a, _, err := ServerName(ascii); err != nil || a != ascii {
			t.Fatalf("%q: %q gives %q %v", s, ascii, a, err)
		}
		if a, _, err := ServerName(display); err != nil || a != ascii {
			t.Fatalf("%q: display %q gives %q %v", s, display, a, err)
		}
		if err := (Account{Server: ascii, User: "u"}).check(); err != nil {
			t.Fatalf("%q: account refuses %q: %v", s, ascii, err)
		}
	})
}
