package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/provision"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/enroll"
)

// quickstartUser is the test account quickstart creates.
const quickstartUser = "test"

// quickstartProfiles is the fleet quickstart serves by default: old and
// new phones side by side, as every real fleet has them.
var quickstartProfiles = []string{"wm5", "ios", "android"}

func quickstartCommand() *cli.Command {
	return &cli.Command{
		Name:  "quickstart",
		Usage: "from nothing to an enrollable, push-verified test endpoint: CA, server certificate, test user, sample bundle, then serve until Ctrl-C",
		UsageText: `pushca quickstart
   pushca --dir /srv/pushca quickstart --host mail.example.com --profiles wm6,ios
   pushca quickstart --https 127.0.0.1:9443 --http 127.0.0.1:9080 --admin 127.0.0.1:9444`,
		Description: `The first run creates the CA in --dir with a random password kept in
quickstart/ca-password (0600: whoever can read it can issue certificates, so
create production CAs with pushca init): one root and a chain family for each
kind of device in --profiles (by default a mixed fleet: a SHA-1 chain for
Windows Mobile and an ECDSA SHA-256 chain for iPhones and Android). It issues
the server certificates for --host, or else for this machine's name and
network addresses (reissued when they change: phones on the network connect
by address), plus localhost and 127.0.0.1; adds the user "test" with a random
password (shown once, kept in quickstart/test-password), and writes a sample
bundle for one user with every device kind to quickstart/bundle. Later runs
reuse all of it.

It then serves ActiveSync on --https and the enrollment page on --http (all
interfaces, ports 8443 and 8080 by default, so phones on the network can reach
it and no root privileges are needed) and the admin API on loopback, and prints
the URLs (at the first network address, or the --host name), the root's
fingerprints, a QR code of the enrollment URL and the pushca push and pushca
verify commands to try next. Ctrl-C stops it.`,
		Flags: append(listenFlags(":8443", ":8080"),
			&cli.StringFlag{Name: "host", Usage: "DNS name devices connect to, which they must resolve to this machine (default: this machine's network addresses)"},
			&cli.StringSliceFlag{Name: "profiles", Aliases: []string{"profile"}, Value: cli.NewStringSlice(quickstartProfiles...),
				Usage: "device profiles of the fleet (" + strings.Join(profile.Names(), ", ") + "); a later run adds no family: use pushca ca add-family"},
		),
		Action: quickstart,
	}
}

func quickstart(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("quickstart takes no arguments, got %q (see --help)", c.Args().First())
	}
	dir, err := filepath.Abs(c.String("dir"))
	if err != nil {
		return fmt.Errorf("state directory %s: %w", c.String("dir"), err)
	}
	q := quickstartFiles{dir: dir}
	out := c.App.Writer
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("this machine's network addresses: %w", err)
	}
	lan := lanIPs(ifAddrs)
	pw, err := q.ensureCA(c)
	if err != nil {
		return err
	}
	authority, err := openCAWith(c, pw)
	if err != nil {
		return err
	}
	profiles, families, root := authority.Profiles(), authority.Families(), authority.Root()
	if err := q.checkProfiles(c, profiles); err != nil {
		authority.Close()
		return err
	}
	named := c.String("host")
	host, err := ensureServer(c.Context, out, authority, named, lan)
	// Closed before serving: other commands can use the state directory.
	authority.Close()
	if err != nil {
		return err
	}
	userPW, created, err := q.ensureUser()
	if err != nil {
		return err
	}
	cfg, err := listenConfig(c)
	if err != nil {
		return err
	}
	cfg.Host = host
	// The landing page shows this URL and its QR code; a port picked at
	// bind time (":0") is known only later, and the page then names host.
	if a := cfg.HTTPAddr; a != "" && !strings.HasSuffix(a, ":0") {
		cfg.EnrollURL = enrollURL(named, a, lan)
	}
	// runServer prints the addresses the listeners are bound to ("[::]:8443"),
	// which no phone can dial: quickstart prints the ones phones can instead.
	quiet := *c.App
	quiet.Writer = io.Discard
	return runServer(cli.NewContext(&quiet, nil, c), cfg, func(s *push.Server) error {
		at := func(addr string) string { return withHost(urlHost(named, addr, lan), addr) }
		enroll := cfg.EnrollURL
		if a := s.HTTPAddr(); a != "" && enroll == "" {
			enroll = enrollURL(named, a, lan)
		}
		server := urlHost(named, s.HTTPSAddr(), lan)
		if err := q.writeBundle(c.Context, server, profiles, enroll, c.App.Version); err != nil {
			return err
		}
		pwLine := fmt.Sprintf("password %s (shown once; kept in %s)", userPW, q.userPassword())
		if !created {
			pwLine = "password in " + q.userPassword()
		}
		fmt.Fprintf(out, "\npushca quickstart: a test endpoint for %s serving %s devices, until Ctrl-C\n\n", host, profileNames(profiles))
		if enroll != "" {
			fmt.Fprintf(out, "Enrollment URL: %s  (open it on the phone to install the root)\n", enroll)
		}
		fmt.Fprintf(out, "ActiveSync URL: https://%s%s  (server %s, SSL on)\n", at(s.HTTPSAddr()), push.ActiveSyncPath, at(s.HTTPSAddr()))
		if a := s.AdminAddr(); a != "" {
			fmt.Fprintf(out, "Admin API: http://%s  (this machine only; token in %s)\n", a, push.TokenPath(q.dir))
		}
		printReach(out, named, host, lan, s)
		fmt.Fprintf(out, "Root: %s\n  SHA-256 %s\n  SHA-1   %s\n", ca.Layout{Dir: dir}.RootCert(), provision.SHA256(root).Colon(), provision.SHA1(root).Colon())
		fmt.Fprintf(out, "Test user: %s, %s\n", quickstartUser, pwLine)
		fmt.Fprintf(out, "Sample bundle: %s\n", q.bundle())
		if enroll != "" {
			qr, err := provision.NewQR(enroll)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "\n%s", qr.Terminal())
		}
		q.printNext(out, host, families, s, cfg.Heartbeat.Min)
		return nil
	})
}

// quickstartFiles are what quickstart keeps beside the CA in the state
// directory.
type quickstartFiles struct{ dir string }

func (q quickstartFiles) path(name string) string { return filepath.Join(q.dir, "quickstart", name) }
func (q quickstartFiles) caPassword() string      { return q.path("ca-password") }
func (q quickstartFiles) userPassword() string    { return q.path("test-password") }
func (q quickstartFiles) bundle() string          { return q.path("bundle") }

// ensureCA returns the password of the state directory's CA, creating the
// CA with a random one when there is none.
func (q quickstartFiles) ensureCA(c *cli.Context) ([]byte, error) {
	_, err := os.Stat(ca.Layout{Dir: q.dir}.State())
	if err == nil {
		return q.existingPassword(c.Context)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("state directory %s: %w", q.dir, err)
	}
	families, err := profile.FamiliesFor(c.StringSlice("profiles"))
	if err != nil {
		return nil, fmt.Errorf("--profiles: %w", err)
	}
	return q.createCA(c.Context, c.App.Writer, families)
}

// checkProfiles refuses --profiles that an existing CA cannot serve:
// quickstart never changes a CA it made before.
func (q quickstartFiles) checkProfiles(c *cli.Context, served []profile.Profile) error {
	if !c.IsSet("profiles") {
		return nil
	}
	for _, n := range c.StringSlice("profiles") {
		p, err := profile.Get(n)
		if err != nil {
			return fmt.Errorf("--profiles: %w", err)
		}
		if !slices.ContainsFunc(served, func(s profile.Profile) bool { return s.Name == p.Name }) {
			return fmt.Errorf("--profiles %s: the CA in %s serves %s only; add the family with `pushca --dir %s ca add-family %s --password-file %s`, or give quickstart another --dir",
				p.Name, q.dir, profileNames(served), q.dir, p.Family, q.caPassword())
		}
	}
	return nil
}

// profileNames is "wm5, ios, android".
func profileNames(ps []profile.Profile) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// ensureServer returns the host served, issuing its certificates when the
// state directory has none. Without --host (named) they carry the
// machine's LAN addresses, so phones can connect by address, and are
// reissued when they lack one: the machine got a new DHCP address.
func ensureServer(ctx context.Context, out io.Writer, authority *ca.CA, named string, lan []net.IP) (string, error) {
	host, ips := named, []net.IP(nil)
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("no --host given and the machine's name is unknown: %w", err)
		}
		host, ips = strings.ToLower(h), lan
	}
	// A family whose chain is missing or lacks an address gets a new one;
	// the others are reused.
	var missing []string
	for _, s := range authority.Slots() {
		chain, err := provision.ReadCertificates(authority.Layout().ServerChain(host, s))
		if err != nil || len(missingIPs(chain[0].IPAddresses, ips)) > 0 {
			missing = append(missing, s.Family)
		}
	}
	if len(missing) == 0 {
		return host, nil
	}
	var dns []string
	if host != "localhost" {
		dns = []string{"localhost"}
	}
	// Clients and the Remote Connectivity Analyzer try
	// https://autodiscover.DOMAIN/ before anything else.
	if d := push.HostDomain(host); d != "" {
		dns = append(dns, "autodiscover."+d)
	}
	issued, err := authority.Issue(ctx, ca.IssueRequest{Host: host, DNS: dns, IPs: append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...), Families: missing, Force: true})
	if err != nil {
		return "", fmt.Errorf("server certificate for %s (name another with --host): %w", host, err)
	}
	for _, is := range issued {
		fmt.Fprintf(out, "issued the %s server certificate for %s (serial %s)\n", is.Record.Family, strings.Join(append(is.Record.DNSNames, is.Record.IPs...), ", "), is.Record.Serial)
	}
	return host, nil
}

// printReach says how phones reach the server: by the LAN addresses the
// certificates carry, or by a --host name instead; and when none can.
func printReach(out io.Writer, named, host string, lan []net.IP, s *push.Server) {
	switch {
	case named != "":
	case len(lan) == 0:
		fmt.Fprintln(out, "This machine has no network address besides loopback, so no phone can reach it: connect it to the phones' network and run quickstart again, or give --host with a name phones resolve to it.")
	default:
		addrs := make([]string, len(lan))
		for i, ip := range lan {
			addrs[i] = ip.String()
		}
		fmt.Fprintf(out, "Phones on this machine's network reach it at %s: the server certificates carry these addresses beside %s. For a DNS name instead, run quickstart with --host NAME (a name the phones resolve to this machine).\n",
			strings.Join(addrs, ", "), strings.Join(slices.Compact([]string{host, "localhost", "127.0.0.1"}), ", "))
	}
	for _, l := range []struct{ name, addr string }{{"ActiveSync", s.HTTPSAddr()}, {"Enrollment", s.HTTPAddr()}} {
		if onLoopback(l.addr) && (len(lan) > 0 || named != "") {
			fmt.Fprintf(out, "The %s listener is on %s, which no phone can reach: give --https :8443 --http :8080 to listen on every interface.\n", l.name, l.addr)
		}
	}
}

// ensureUser returns the test user's password, creating the user (or
// setting the password kept in the state directory) when needed.
func (q quickstartFiles) ensureUser() (pw string, created bool, err error) {
	b, err := readSecretFile(q.userPassword())
	if errors.Is(err, fs.ErrNotExist) {
		b, created = []byte(rand.Text()), true
		if err := atomicfile.MkdirAll(filepath.Dir(q.userPassword())); err != nil {
			return "", false, err
		}
		if err := atomicfile.WriteFile(q.userPassword(), append(b, '\n'), atomicfile.FileMode); err != nil {
			return "", false, fmt.Errorf("save the test user's password: %w", err)
		}
	} else if err != nil {
		return "", false, err
	}
	users, err := push.OpenUsers(push.UsersPath(q.dir), 0)
	if err != nil {
		return "", false, err
	}
	if created || !users.Has(quickstartUser) {
		if err := users.Add(quickstartUser, string(b)); err != nil {
			return "", false, err
		}
	}
	return string(b), created, nil
}

// writeBundle writes the test user's enrollment bundle; unchanged files
// are left alone, so later runs rewrite nothing unless a URL changed.
func (q quickstartFiles) writeBundle(ctx context.Context, host string, served []profile.Profile, pageURL, version string) error {
	chains, err := enroll.ReadChains(q.dir)
	if err != nil {
		return err
	}
	// One user with every kind of device of the default fleet that the CA
	// serves.
	var devices []string
	for _, n := range quickstartProfiles {
		if slices.ContainsFunc(served, func(p profile.Profile) bool { return p.Name == n }) {
			devices = append(devices, n)
		}
	}
	b := provision.Bundle{Chains: chains, Server: host, Devices: devices, Version: version}
	if pageURL != "" {
		b.URL = func(provision.User) (string, time.Time, error) { return pageURL, time.Time{}, nil }
	}
	if _, err := b.Write(ctx, q.bundle(), []provision.User{{Line: 2, Name: quickstartUser}}, nil); err != nil {
		return fmt.Errorf("sample bundle: %w", err)
	}
	return nil
}

// printNext prints the push and verify commands to run against this
// server from the same machine: one verify per chain family, as a device
// the family serves, since each family's devices get their own chain.
func (q quickstartFiles) printNext(out io.Writer, host string, families []profile.Family, s *push.Server, heartbeat int) {
	https := s.HTTPSAddr()
	fmt.Fprintln(out, "\nTry next, from another terminal on this machine:")
	if a := s.AdminAddr(); a != "" {
		fmt.Fprintf(out, "  %s   # wakes the test user's held Pings\n", shellJoin("pushca", "--dir", q.dir, "push", quickstartUser, "--admin", a))
	}
	for _, f := range families {
		p := profile.ProfilesServedBy(f)[0]
		verify := []string{"pushca"}
		if s.AdminAddr() != "" {
			verify = append(verify, "--dir", q.dir)
		}
		verify = append(verify, "verify", "https://"+withHost(host, https), "--connect", dialable(https),
			"--root", ca.Layout{Dir: q.dir}.RootCert(), "--profile", p.Name,
			"--user", quickstartUser, "--password-file", q.userPassword(), "--heartbeat", fmt.Sprint(heartbeat))
		if a := s.AdminAddr(); a != "" {
			verify = append(verify, "--admin", a)
		}
		fmt.Fprintf(out, "  %s   # checks it as %s devices would\n", shellJoin(verify...), p.Name)
	}
}

// withHost is addr's port on host.
func withHost(host, addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return net.JoinHostPort(host, port)
}

// dialable is a listener address a client on this machine can dial: an
// unspecified address (all interfaces) becomes loopback.
func dialable(addr string) string {
	h, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
		h = "127.0.0.1"
	}
	return net.JoinHostPort(h, port)
}

// shellJoin quotes what a POSIX shell would split or expand.
func shellJoin(args ...string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
		}) {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
