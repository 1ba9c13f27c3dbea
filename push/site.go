package push

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// HostDomain is the domain of a host name, the name without its first
// label (mail.example.com: example.com), or "" for a single label or an IP
// address. It names the users' mail domain and the autodiscover.DOMAIN host
// devices look for.
func HostDomain(host string) string {
	if net.ParseIP(host) != nil {
		return ""
	}
	_, domain, ok := strings.Cut(strings.TrimSuffix(host, "."), ".")
	if !ok {
		return ""
	}
	return strings.ToLower(domain)
}

// defaultMailDomain: the host's domain, or on a test bed whose host has
// none (localhost, a machine name) the host itself, so NAME@HOST still
// names each user.
func defaultMailDomain(host string) string {
	if d := HostDomain(host); d != "" {
		return d
	}
	if net.ParseIP(host) != nil {
		return ""
	}
	return strings.ToLower(host)
}

// checkServerURL accepts https://HOST[:PORT] and nothing more: it is
// announced to devices, which append the ActiveSync path themselves.
func checkServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("server URL %q: %w", s, err)
	}
	if u.Scheme != "https" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("server URL %q: give https://HOST[:PORT], where devices reach this server", s)
	}
	return nil
}

// site is what the server says about itself to devices: never taken from
// a request.
type site struct {
	// mailDomain is the domain of every user's address; "" when unknown.
	mailDomain string
	// url is https://HOST[:PORT] without a trailing slash; "" when unknown.
	url string
}

// newSite fills the defaults once the HTTPS listener has its port.
func newSite(cfg Config, httpsAddr net.Addr) site {
	s := site{mailDomain: strings.ToLower(cfg.MailDomain), url: strings.TrimSuffix(cfg.URL, "/")}
	if s.url == "" && cfg.Host != "" {
		host := cfg.Host
		if _, port, err := net.SplitHostPort(httpsAddr.String()); err == nil && port != "443" {
			host = net.JoinHostPort(host, port)
		}
		s.url = "https://" + host
	}
	return s
}

// addresses are user's e-mail addresses, the primary one first. The users
// file holds names only, so each user has the one address NAME@mailDomain.
func (s site) addresses(user string) []string {
	if s.mailDomain == "" {
		return nil
	}
	return []string{user + "@" + s.mailDomain}
}

// owns says whether address is one of user's, compared as mail systems
// do: the domain without case, the local part as the users file keys it.
func (s site) owns(user, address string) bool {
	local, domain, ok := strings.Cut(address, "@")
	return ok && s.mailDomain != "" && strings.EqualFold(domain, s.mailDomain) && strings.EqualFold(local, user)
}
