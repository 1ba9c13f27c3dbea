package main

import (
	"net"
	"slices"
)

// lanIPs are the addresses among addrs (net.InterfaceAddrs) that a phone
// on the same network can dial: unicast, neither loopback nor link-local
// (a link-local address is ambiguous without its interface, which a URL on
// a phone cannot name). IPv4 comes first, in interface order: a phone on
// Wi-Fi has IPv4 where it may lack IPv6.
func lanIPs(addrs []net.Addr) []net.IP {
	var v4, v6 []net.IP
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		// IsGlobalUnicast includes the private ranges a LAN uses and
		// excludes loopback, link-local, multicast and the unspecified.
		if ip == nil || !ip.IsGlobalUnicast() || slices.ContainsFunc(append(v4, v6...), ip.Equal) {
			continue
		}
		if v := ip.To4(); v != nil {
			v4 = append(v4, v)
		} else {
			v6 = append(v6, ip)
		}
	}
	return append(v4, v6...)
}

// missingIPs are the addresses of want that have is lacks: a certificate
// made before the machine got a new DHCP address lacks it.
func missingIPs(have, want []net.IP) []net.IP {
	var out []net.IP
	for _, ip := range want {
		if !slices.ContainsFunc(have, ip.Equal) {
			out = append(out, ip)
		}
	}
	return out
}

// urlHost is the host quickstart prints in the URLs of a listener at addr,
// for phones to dial: the --host name when one was given (the user vouches
// that phones resolve it); else the first LAN address for a listener on
// every interface; else the listener's own address or name (loopback when
// there is no LAN address or the listener is on loopback: then no phone
// can reach it, which quickstart says). Never "[::]", which no phone can
// dial.
func urlHost(named, addr string, lan []net.IP) string {
	if named != "" {
		return named
	}
	h, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(h)
	switch {
	case ip != nil && !ip.IsUnspecified():
		return ip.String()
	case ip == nil && h != "":
		return h
	case len(lan) > 0:
		return lan[0].String()
	}
	return "127.0.0.1"
}

// enrollURL is the enrollment URL of the HTTP listener at addr.
func enrollURL(named, addr string, lan []net.IP) string {
	return "http://" + withHost(urlHost(named, addr, lan), addr) + "/"
}

// onLoopback says whether a listener bound at addr is on loopback, where
// no phone can reach it.
func onLoopback(addr string) bool {
	h, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
