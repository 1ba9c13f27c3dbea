package profile

import "testing"

// One rule for certificates and packages: what it accepts is a lower-case
// ASCII name that is safe as a directory name, and an international name
// comes back as punycode with its readable form.
func TestHostName(t *testing.T) {
	for in, want := range map[string][2]string{
		"Mail.Example.COM.": {"mail.example.com", "mail.example.com"},
		"bücher.example":    {"xn--bcher-kva.example", "bücher.example"},
		"exchange":          {"exchange", "exchange"},
		"10.0.0.5":          {"10.0.0.5", "10.0.0.5"},
		"::1":               {"::1", "::1"},
	} {
		ascii, display, err := HostName(in)
		if err != nil || ascii != want[0] || display != want[1] {
			t.Errorf("%q: %q %q %v, want %q", in, ascii, display, err, want)
		}
	}
	for _, bad := range []string{"", ".", "..", "/etc", "../x", "a/b", "a..b", "-a.example", "a_b.example", "*.example.com", "mail example.com", "xn--zz.example"} {
		if ascii, _, err := HostName(bad); err == nil {
			t.Errorf("%q accepted as %q", bad, ascii)
		}
	}
}
