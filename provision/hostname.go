package provision

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/net/idna"
)

// hostNames is IDNA 2008 as a resolver applies it, with the STD3 rules
// (letters, digits and hyphens) and the DNS length limits that certificate
// names obey: devices compare the server name with the certificate's, so a
// name no certificate can carry is refused here rather than on the phone.
var hostNames = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true), idna.Transitional(false))

// ServerName checks an Exchange server name as a person typed it and
// returns the form packages carry: lower case, without a trailing dot, an
// international name in its ASCII (punycode) form, since neither Windows
// Mobile nor a certificate knows any other. display is the name as people
// read it (bücher.example for xn--bcher-kva.example); it equals ascii for
// every other name. An IP address is accepted as Go prints it.
func ServerName(s string) (ascii, display string, err error) {
	if s == "" {
		return "", "", errors.New("server host name is empty")
	}
	if err := checkText("server", s); err != nil {
		return "", "", err
	}
	if strings.Contains(s, "/") {
		return "", "", fmt.Errorf("server %s: give the host name only, without scheme or path", clip(s))
	}
	if ip := net.ParseIP(s); ip != nil {
		return ip.String(), ip.String(), nil
	}
	ascii, err = hostNames.ToASCII(strings.TrimSuffix(s, "."))
	if err != nil {
		return "", "", fmt.Errorf("server %s: not a host name; labels of letters, digits and inner hyphens, separated by dots (%w)", clip(s), err)
	}
	display, err = hostNames.ToUnicode(ascii)
	if err != nil {
		return "", "", fmt.Errorf("server %s: %w", clip(s), err)
	}
	return ascii, display, nil
}
