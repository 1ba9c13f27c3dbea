package ca

import (
	"fmt"
	"net"
	"strings"

	"github.com/pushca/pushca/profile"
)

// normalizeName checks a DNS name or IP address for a server certificate and
// returns its canonical form (see profile.HostName: lower case, no trailing
// dot, punycode), a wildcard label first allowed (the family's rules decide
// whether devices match it). The name also becomes a directory name, which
// the host-name rules keep safe.
func normalizeName(name string) (string, error) {
	n, wildcard := strings.CutPrefix(strings.TrimSpace(name), "*.")
	ascii, _, err := profile.HostName(n)
	if err != nil {
		return "", err
	}
	if wildcard {
		if net.ParseIP(ascii) != nil {
			return "", fmt.Errorf("host name %q: a wildcard goes before a DNS name, not an address", name)
		}
		return "*." + ascii, nil
	}
	return ascii, nil
}

// subjectNames builds the SAN list: the host first (devices that read only
// the CN see the same name), then extra names and addresses, without
// duplicates, each one the family's devices can match.
func subjectNames(host string, dns []string, ips []net.IP, r rules) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(raw string) error {
		n, err := normalizeName(raw)
		if err != nil {
			return err
		}
		if err := r.checkName(n); err != nil {
			return err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
		return nil
	}
	if err := add(host); err != nil {
		return nil, err
	}
	for _, d := range dns {
		if err := add(d); err != nil {
			return nil, fmt.Errorf("--san: %w", err)
		}
	}
	for _, ip := range ips {
		if ip == nil {
			return nil, fmt.Errorf("--ip: invalid address")
		}
		if err := add(ip.String()); err != nil {
			return nil, err
		}
	}
	return out, nil
}
