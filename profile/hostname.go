package profile

import (
	"fmt"
	"net"
	"strings"

	"golang.org/x/net/idna"
)

// hostNames is IDNA 2008 as a resolver applies it, with the STD3 rules
// (letters, digits and hyphens) and the DNS length limits: devices compare
// the server name they were given with the certificate's, so one rule
// decides what a certificate (package ca) and a device package (package
// provision) may carry.
var hostNames = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true), idna.Transitional(false))

// HostName checks a host name or IP address as a person typed it and
// returns the form certificates and packages carry: lower case, without a
// trailing dot, an international name in its ASCII (punycode) form, which
// is all Windows Mobile and X.509 know. display is the name as people read
// it (bücher.example for xn--bcher-kva.example), equal to ascii for every
// other name. An IP address comes back as Go prints it. Wildcards are the
// caller's to allow (see CheckName).
func HostName(s string) (ascii, display string, err error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", "", fmt.Errorf("host name is empty")
	}
	if ip := net.ParseIP(t); ip != nil {
		return ip.String(), ip.String(), nil
	}
	name := strings.TrimSuffix(t, ".")
	// An ASCII name gets a reason a person can act on ("label "bad_host"
	// has '_'") before IDNA's ("disallowed rune U+005F").
	if err := checkASCIIName(name); err != nil {
		return "", "", fmt.Errorf("%q is not a host name: %w", s, err)
	}
	ascii, err = hostNames.ToASCII(name)
	if err != nil {
		return "", "", fmt.Errorf("%q is not a host name: labels of letters, digits and inner hyphens, separated by dots (%w)", s, err)
	}
	if display, err = hostNames.ToUnicode(ascii); err != nil {
		return "", "", fmt.Errorf("%q: %w", s, err)
	}
	return ascii, display, nil
}

// checkASCIIName applies RFC 1123's rules to the labels of a name that is
// all ASCII; others are IDNA's to judge.
func checkASCIIName(n string) error {
	for _, r := range n {
		if r >= 0x80 {
			return nil
		}
	}
	if len(n) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	for _, l := range strings.Split(n, ".") {
		switch {
		case l == "":
			return fmt.Errorf("empty label")
		case len(l) > 63:
			return fmt.Errorf("label %q is longer than 63 characters", l)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Errorf("label %q starts or ends with a hyphen", l)
		}
		for _, r := range strings.ToLower(l) {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("label %q has %q: only letters, digits and hyphens are allowed", l, r)
			}
		}
	}
	return nil
}
