package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/provision"
)

func ipNet(s string) net.Addr {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

// TestQuickstartOnAMachineNamedVMPrintsAddressesPhonesReach: quickstart
// printed http://vm:8080/ and https://[::]:8443, neither of which a phone
// can dial. The addresses printed come from the machine's interfaces:
// loopback and link-local ones are left out, IPv4 comes first.
func TestQuickstartOnAMachineNamedVMPrintsAddressesPhonesReach(t *testing.T) {
	wifi := []net.Addr{
		ipNet("127.0.0.1/8"), ipNet("::1/128"),
		ipNet("fe80::fc:ff:fe00:1/64"), ipNet("169.254.10.3/16"),
		ipNet("fd00::2/64"), ipNet("192.168.1.23/24"),
		&net.IPAddr{IP: net.ParseIP("10.8.0.5")}, ipNet("192.168.1.23/24"),
		ipNet("224.0.0.251/32"),
	}
	lan := lanIPs(wifi)
	if got := fmt.Sprint(lan); got != "[192.168.1.23 10.8.0.5 fd00::2]" {
		t.Fatalf("lanIPs = %s", got)
	}
	for _, tc := range []struct {
		named, listen string
		lan           []net.IP
		want          string
	}{
		{"", "[::]:8080", lan, "http://192.168.1.23:8080/"},
		{"", "0.0.0.0:8080", lan, "http://192.168.1.23:8080/"},
		{"", ":8080", lan, "http://192.168.1.23:8080/"},
		{"", "[::]:8080", lanIPs(wifi[4:5]), "http://[fd00::2]:8080/"},
		{"", "10.8.0.5:8080", lan, "http://10.8.0.5:8080/"},
		{"mail.example.com", "[::]:8080", lan, "http://mail.example.com:8080/"},
		// Loopback only, or no LAN at all: nothing a phone reaches, and
		// quickstart says so; the URL still works on this machine.
		{"", "127.0.0.1:8080", lan, "http://127.0.0.1:8080/"},
		{"", "[::]:8080", lanIPs(wifi[:4]), "http://127.0.0.1:8080/"},
		{"", "localhost:8080", lan, "http://localhost:8080/"},
	} {
		if got := enrollURL(tc.named, tc.listen, tc.lan); got != tc.want {
			t.Errorf("--host %q, listening on %s, LAN %v: %s; want %s", tc.named, tc.listen, tc.lan, got, tc.want)
		}
	}
	for addr, want := range map[string]bool{"127.0.0.1:8443": true, "[::1]:8443": true, "[::]:8443": false, "192.168.1.23:8443": false} {
		if onLoopback(addr) != want {
			t.Errorf("onLoopback(%s) = %v", addr, !want)
		}
	}
}

// TestQuickstartAfterANewDHCPAddressReissues: a later run on a machine
// that got a new address reissues the certificates, which then carry it;
// a run with the same addresses issues nothing.
func TestQuickstartAfterANewDHCPAddressReissues(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	if err := ca.Init(ctx, dir, ca.InitOptions{Families: []string{profile.FamilyModern}, Password: []byte("pw")}); err != nil {
		t.Fatal(err)
	}
	authority, err := ca.Open(ctx, dir, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer authority.Close()
	serve := func(lan ...string) (issued string, sans []net.IP) {
		t.Helper()
		var ips []net.IP
		for _, a := range lan {
			ips = append(ips, net.ParseIP(a))
		}
		var out strings.Builder
		host, err := ensureServer(ctx, &out, authority, "", ips)
		if err != nil {
			t.Fatal(err)
		}
		chain, err := provision.ReadCertificates(authority.Layout().ServerChain(host, authority.Slots()[0]))
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), chain[0].IPAddresses
	}
	if out, sans := serve("192.168.1.23"); !strings.Contains(out, "issued the modern server certificate") || fmt.Sprint(sans) != "[127.0.0.1 192.168.1.23]" {
		t.Fatalf("first run: %q, IP SANs %v", out, sans)
	}
	if out, _ := serve("192.168.1.23"); out != "" {
		t.Errorf("same address: %q; want nothing issued", out)
	}
	out, sans := serve("192.168.1.40", "fd00::2")
	if !strings.Contains(out, "192.168.1.40, fd00::2") || fmt.Sprint(sans) != "[127.0.0.1 192.168.1.40 fd00::2]" {
		t.Errorf("new DHCP address: %q, IP SANs %v", out, sans)
	}
}
