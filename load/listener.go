package load

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tcpListen is the state /proc/net/tcp gives a listening socket.
const tcpListen = "0A"

// ListenerProcess finds the process listening on addr, a TCP address of
// this machine, from /proc: the server a load run measures, whatever its
// command line (pushca serve, pushca quickstart, go run ...), so nobody
// has to find its pid with pgrep. Only processes whose file descriptors
// the caller may read are found.
func ListenerProcess(addr netip.AddrPort) (Process, error) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeningInodes(table, addr, inodes); err != nil {
			return Process{}, err
		}
	}
	if len(inodes) == 0 {
		return Process{}, fmt.Errorf("nothing listens on %s", addr)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return Process{}, fmt.Errorf("find the server's process: %w", err)
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // another user's process, or gone
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			if inode, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(inode, "]")] {
				return Process{PID: pid}, nil
			}
		}
	}
	return Process{}, fmt.Errorf("no process of this user listens on %s", addr)
}

// listeningInodes adds to inodes the sockets of a /proc/net/tcp table
// listening on addr's port at addr's address or at every address.
func listeningInodes(table string, addr netip.AddrPort, inodes map[string]bool) error {
	f, err := os.Open(table)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no IPv6 in this kernel
	}
	if err != nil {
		return fmt.Errorf("find the server's process: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st ... uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != tcpListen {
			continue
		}
		local, err := parseProcAddr(fields[1])
		if err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
		if local.Port() == addr.Port() && (local.Addr().IsUnspecified() || local.Addr().Unmap() == addr.Addr().Unmap()) {
			inodes[fields[9]] = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	return nil
}

// parseProcAddr reads /proc/net/tcp's "0100007F:1F90": the address as
// 32-bit words printed in host byte order, then the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok || (len(hexIP) != 8 && len(hexIP) != 32) {
		return netip.AddrPort{}, fmt.Errorf("socket address %q", s)
	}
	raw := make([]byte, len(hexIP)/2)
	for w := 0; w < len(raw); w += 4 {
		v, err := strconv.ParseUint(hexIP[2*w:2*w+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("socket address %q: %w", s, err)
		}
		binary.NativeEndian.PutUint32(raw[w:], uint32(v))
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("socket address %q: %w", s, err)
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
