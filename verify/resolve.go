package verify

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Resolve sends connections for HOST:PORT to another address, as curl's
// --resolve HOST:PORT:ADDR does, so the DNS steps of Autodiscover can be
// tried before DNS says so, or on loopback. ADDR may carry a port of its
// own (127.0.0.1:8443, [::1]:8443), which curl spells --connect-to: a test
// server cannot take ports 443 and 80. Certificates are still checked
// against HOST.
type Resolve map[string]string

// ParseResolve reads HOST:PORT:ADDR[:PORT] specifications.
func ParseResolve(specs []string) (Resolve, error) {
	r := Resolve{}
	for _, s := range specs {
		host, rest, err := cutHost(s)
		if err != nil {
			return nil, fmt.Errorf("--resolve %q: %w", s, err)
		}
		port, addr, ok := strings.Cut(rest, ":")
		if !ok || !validPort(port) || addr == "" {
			return nil, fmt.Errorf("--resolve %q: give HOST:PORT:ADDR, e.g. mail.example.com:443:127.0.0.1", s)
		}
		to, err := resolveTarget(addr, port)
		if err != nil {
			return nil, fmt.Errorf("--resolve %q: %w", s, err)
		}
		r[net.JoinHostPort(strings.ToLower(host), port)] = to
	}
	return r, nil
}

// cutHost splits HOST (a name, or an IPv6 address in brackets) from the rest.
func cutHost(s string) (host, rest string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]:")
		if end < 0 {
			return "", "", fmt.Errorf("unclosed [ in the host")
		}
		return s[1:end], s[end+2:], nil
	}
	host, rest, ok := strings.Cut(s, ":")
	if !ok || host == "" {
		return "", "", fmt.Errorf("no HOST:PORT")
	}
	return host, rest, nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536
}

// resolveTarget is ADDR with its own port or, without one, port.
func resolveTarget(addr, port string) (string, error) {
	if h, p, err := net.SplitHostPort(addr); err == nil && net.ParseIP(h) != nil {
		if !validPort(p) {
			return "", fmt.Errorf("bad port %q", p)
		}
		return net.JoinHostPort(h, p), nil
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"))
	if ip == nil {
		return "", fmt.Errorf("ADDR %q is not an IP address", addr)
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// target is where a connection for hostport goes.
func (r Resolve) target(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if t, ok := r[net.JoinHostPort(strings.ToLower(host), port)]; ok {
		return t
	}
	return hostport
}

func (r Resolve) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	return d.DialContext(ctx, network, r.target(addr))
}
