package ca

import (
	"fmt"
	"net"
	"strings"
)

// normalizeName checks a DNS name or IP address for a server certificate and
// returns its canonical form (lower case, no trailing dot). The name also
// becomes a directory name, so anything outside RFC 1123 is refused.
func normalizeName(name string) (string, error) {
	n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if n == "" {
		return "", fmt.Errorf("host name is empty")
	}
	if ip := net.ParseIP(n); ip != nil {
		return ip.String(), nil
	}
	if len(n) > 253 {
		return "", fmt.Errorf("host name %q is longer than 253 characters", name)
	}
	for i, label := range strings.Split(n, ".") {
		if i == 0 && label == "*" {
			continue
		}
		if err := checkLabel(label); err != nil {
			return "", fmt.Errorf("host name %q: %w", name, err)
		}
	}
	return n, nil
}

func checkLabel(l string) error {
	if l == "" {
		return fmt.Errorf("empty label")
	}
	if len(l) > 63 {
		return fmt.Errorf("label %q is longer than 63 characters", l)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("label %q has %q: only letters, digits and hyphens are allowed", l, r)
		}
	}
	return nil
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
