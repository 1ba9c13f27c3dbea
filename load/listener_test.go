package load

import (
	"net"
	"net/netip"
	"os"
	"testing"
)

// TestLoadFindsTheServerListeningOnItsPort: `pgrep -f 'pushca serve'`
// finds nothing when the server is quickstart (or has --dir before its
// command), so load finds the process listening on the URL's port itself.
func TestLoadFindsTheServerListeningOnItsPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	p, err := ListenerProcess(addr)
	if err != nil || p.PID != os.Getpid() {
		t.Fatalf("listener of %s: %+v, %v; want this test, pid %d", addr, p, err, os.Getpid())
	}
	// Another loopback address on the port is not this listener.
	other := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.9"), addr.Port())
	if p, err := ListenerProcess(other); err == nil {
		t.Errorf("listener of %s: pid %d; want none", other, p.PID)
	}
}

func TestParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:20FB":                         "0.0.0.0:8443",
		"00000000000000000000000000000000:20FB": "[::]:8443",
		"00000000000000000000000001000000:20FB": "[::1]:8443",
	} {
		got, err := parseProcAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "01007F:1F90", "0100007G:1F90", "0100007F:FFFFF"} {
		if got, err := parseProcAddr(bad); err == nil {
			t.Errorf("parseProcAddr(%q) = %v; want an error", bad, got)
		}
	}
}
