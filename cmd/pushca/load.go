package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/load"
	"github.com/pushca/pushca/push/ops"
)

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:      "load",
		Usage:     "load a running pushca serve on loopback with many held Pings and measure it",
		ArgsUsage: "URL [URL...]",
		UsageText: `pushca load https://127.0.0.1:8443 --devices 5000
   pushca load https://127.0.0.1:8443 --devices 19000 --sources 8 --probes 200 --json > run.json
   pushca load https://localhost:9443 --server-name mail.test --pid 4242 --password-file pw
   pushca load https://127.0.0.1:8443 https://127.0.0.1:9443 --instance-admin 127.0.0.1:9444 --devices 19000

   Several URLs are endpoints of one server sharing its state (pushca serve on
   PostgreSQL, from copies of one state directory): devices and probes are spread
   over them in turn, each probe's push goes through the admin API of the endpoint
   after its own, so every timed push crosses endpoints, and the broadcast goes
   through the first. --instance-admin names the admin API of each further URL,
   in order; their token is the first one's (a copied directory keeps it) unless
   --instance-token-file names one per URL. Memory and CPU are the sum over all
   endpoints' processes.

   Every device logs in as --user and Pings from 127.0.0.2, 127.0.0.3, ... (--sources
   addresses, so ephemeral ports do not run out); probes log in as --probe-user with %d
   replaced by 0, 1, ... When --dir holds the server's CA, the users missing there are
   created, with --password-file's password or one kept in push/load-password; users
   that exist must have that password. The server must allow --devices Pings for one
   user: start it with --devices-per-user 0 (serve and quickstart alike).
   The load stops by itself: after the broadcast, or at --timeout. Only loopback
   servers are accepted. The server's memory and idle CPU are read from /proc, of
   the process listening on the URL's port unless --pid names it.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "root", Usage: "PEM file of the roots to trust (default: the state directory's root)"},
			&cli.StringFlag{Name: "server-name", Usage: "name the server certificate carries (default: the URL's host)"},
			&cli.StringFlag{Name: "user", Value: "bench", Usage: "login of every load device"},
			&cli.StringFlag{Name: "probe-user", Value: "probe%d", Usage: "login pattern of the single-device probes"},
			&cli.StringFlag{Name: "password-file", Usage: "file holding the load users' password (first line); without it, the one kept in --dir, else a prompt"},
			&cli.IntFlag{Name: "devices", Value: 1000, Usage: "Pings held at once"},
			&cli.IntFlag{Name: "probes", Value: 50, Usage: "single-device pushes timed while the devices are held (0: none)"},
			&cli.IntFlag{Name: "sources", Value: 4, Usage: "loopback source addresses, from 127.0.0.2"},
			&cli.IntFlag{Name: "heartbeat", Value: 1800, Usage: "Ping heartbeat, seconds"},
			&cli.StringFlag{Name: "version", Value: "14.1", Usage: "ActiveSync protocol version the devices speak"},
			&cli.StringFlag{Name: "pid", Usage: "process id of the server, to read its memory and CPU from /proc (default: the process listening on the URL's port)"},
			&cli.DurationFlag{Name: "idle", Value: 10 * time.Second, Usage: "how long the idle CPU is sampled with every Ping held"},
			&cli.DurationFlag{Name: "handshakes", Value: 3 * time.Second, Usage: "time per TLS suite for the handshake rates (0: skip)"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Minute, Usage: "bound on the whole run"},
			&cli.BoolFlag{Name: "json", Usage: "print the figures as JSON"},
			&cli.StringSliceFlag{Name: "instance-admin", Usage: "admin API of the server at each further URL, in order (repeatable)"},
			&cli.StringSliceFlag{Name: "instance-token-file", Usage: "admin token file of each further URL's server, in order (repeatable; default: the first one's)"},
		}, adminFlags()...),
		Action: func(c *cli.Context) error {
			// Before the URL: an empty $(pgrep ...) leaves --pid taking it.
			pid, err := pidFlag(c)
			if err != nil {
				return err
			}
			if c.NArg() < 1 {
				return usageErrorf("give the server's URL, e.g. pushca load https://127.0.0.1:8443 (see --help)")
			}
			var urls []*url.URL
			for _, raw := range c.Args().Slice() {
				u, err := loopbackURL(raw)
				if err != nil {
					return err
				}
				urls = append(urls, u)
			}
			u := urls[0]
			cfg, err := loadConfig(c, urls, pid)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			out := loadReport{}
			if cfg.Server != nil {
				out.ServerPID = cfg.Server.PID
			}
			out.Run, err = load.Run(ctx, cfg)
			if err != nil {
				return fmt.Errorf("load: %w", err)
			}
			if d := c.Duration("handshakes"); d > 0 {
				if cfg.Server != nil {
					if err := cfg.Server.WaitIdle(ctx, 30*time.Second); err != nil {
						return err
					}
				}
				for _, s := range load.Suites() {
					h, err := load.MeasureHandshakes(ctx, u.Host, cfg.ServerName, cfg.Roots, s, 4, d, cfg.Server)
					if err != nil {
						// A server without Windows Mobile profiles has no
						// TLS 1.0: a finding, not a failure of the run.
						h.FirstError = err.Error()
					}
					out.Handshakes = append(out.Handshakes, h)
				}
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			return out.write(c.App.Writer)
		},
	}
}

// loopbackURL accepts only servers on this machine: a load run is never
// aimed at anything else.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want https://HOST:PORT", raw)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "443")
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", raw, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return nil, fmt.Errorf("server URL %q: %s is not a loopback address; load runs stay on this machine", raw, ip)
		}
	}
	return u, nil
}

func loadConfig(c *cli.Context, urls []*url.URL, pid int) (load.Config, error) {
	u := urls[0]
	pattern := c.String("probe-user")
	if c.Int("probes") > 0 && strings.Count(pattern, "%d") != 1 {
		return load.Config{}, fmt.Errorf("--probe-user %q: want one %%d, replaced by the probe's number", pattern)
	}
	probeLogin := func(i int) string { return fmt.Sprintf(pattern, i) }
	logins := []string{c.String("user")}
	for i := range c.Int("probes") {
		logins = append(logins, probeLogin(i))
	}
	delivers, err := instanceDeliverers(c, len(urls))
	if err != nil {
		return load.Config{}, err
	}
	rootFile := c.String("root")
	if rootFile == "" {
		rootFile = ca.Layout{Dir: c.String("dir")}.RootCert()
	}
	roots, err := readRoots(rootFile)
	if err != nil {
		return load.Config{}, err
	}
	pw, err := loadCredentials(c, logins)
	if err != nil {
		return load.Config{}, err
	}
	cfg := load.Config{
		URL: "https://" + u.Host, ServerName: c.String("server-name"), Roots: roots,
		Login: c.String("user"), Password: string(pw),
		ProbeLogin: probeLogin,
		Devices:    c.Int("devices"), Probes: c.Int("probes"), Sources: load.Loopback(c.Int("sources")),
		Heartbeat: time.Duration(c.Int("heartbeat")) * time.Second, Version: c.String("version"),
		Deliver: func(ctx context.Context, instance int, user string) error {
			_, err := delivers[instance](ctx, ops.DeliverRequest{User: user, Subject: "pushca load"})
			return err
		},
		Provision: true, Idle: c.Duration("idle"), Log: logger(c),
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	cfg.Server = serverProcess(c.Context, u, pid, cfg.Log)
	measured := cfg.Server != nil
	for _, o := range urls[1:] {
		in := load.Instance{URL: "https://" + o.Host, Server: serverProcess(c.Context, o, 0, cfg.Log)}
		measured = measured && in.Server != nil
		cfg.Instances = append(cfg.Instances, in)
	}
	if !measured {
		// A sum that leaves an endpoint out would be no figure at all.
		cfg.Server = nil
		for i := range cfg.Instances {
			cfg.Instances[i].Server = nil
		}
	}
	return cfg, nil
}

// instanceDeliverers deliver through the admin API of each of n
// endpoints: --admin for the first, --instance-admin for the others.
func instanceDeliverers(c *cli.Context, n int) ([]deliverFunc, error) {
	admins, tokens := c.StringSlice("instance-admin"), c.StringSlice("instance-token-file")
	if len(admins) != n-1 {
		return nil, usageErrorf("%d further URL(s) need as many --instance-admin addresses, got %d", n-1, len(admins))
	}
	if len(tokens) > 0 && len(tokens) != n-1 {
		return nil, usageErrorf("%d further URL(s) need as many --instance-token-file files or none, got %d", n-1, len(tokens))
	}
	// Every address is checked before any token is read or device dials.
	for _, addr := range admins {
		if err := loopbackAdmin(addr); err != nil {
			return nil, fmt.Errorf("--instance-admin: %w", err)
		}
	}
	first, err := adminDeliverer(c)
	if err != nil {
		return nil, err
	}
	out := []deliverFunc{first}
	for i, addr := range admins {
		tokenFile := adminTokenFile(c)
		if len(tokens) > 0 {
			tokenFile = tokens[i]
		}
		d, err := adminDelivererAt(addr, tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--instance-admin %s: %w", addr, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// pidFlag is --pid, 0 when not given.
func pidFlag(c *cli.Context) (int, error) {
	s := c.String("pid")
	if s == "" {
		return 0, nil
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, usageErrorf("--pid %q is not a process id (a number): did the command that should print it print nothing? Leave --pid out and load reads the process listening on the URL's port", s)
	}
	return pid, nil
}

// serverProcess is the process whose memory and CPU a run reads: pid, or
// the one listening on u's port. Without one the run measures the rest.
func serverProcess(ctx context.Context, u *url.URL, pid int, log *slog.Logger) *load.Process {
	if pid > 0 {
		return &load.Process{PID: pid}
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		return nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	for _, ip := range ips {
		var p load.Process
		if p, err = load.ListenerProcess(netip.AddrPortFrom(ip, uint16(port))); err == nil {
			return &p
		}
	}
	log.Warn("the server's memory and CPU are not measured: its process was not found; give --pid", "err", err)
	return nil
}

func readRoots(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read roots %s: %w (give --root, or run pushca init)", path, err)
	}
	var out []*x509.Certificate
	for blk, rest := pem.Decode(data); blk != nil; blk, rest = pem.Decode(rest) {
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("roots %s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("roots %s: no PEM certificate", path)
	}
	return out, nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

type loadReport struct {
	// ServerPID is the process measured, 0 when none was.
	ServerPID  int               `json:"server_pid,omitempty"`
	Run        *load.Result      `json:"run"`
	Handshakes []load.Handshakes `json:"handshakes,omitempty"`
}

func (r loadReport) write(w io.Writer) error {
	res := r.Run
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	var b strings.Builder
	fmt.Fprintf(&b, "devices %d, held %d, errors %d, all held after %s", res.Devices, res.Held, res.Errors, res.Connect.Round(time.Millisecond))
	if res.Instances > 1 {
		fmt.Fprintf(&b, ", spread over %d endpoints (every timed push crosses endpoints)", res.Instances)
	}
	b.WriteString("\n")
	for _, e := range res.First {
		fmt.Fprintf(&b, "  error: %s\n", e)
	}
	if m := res.HeldMemory; m.RSS > 0 {
		per := res.PerPing()
		others := ""
		if res.Instances > 1 {
			others = fmt.Sprintf(" and the %d other endpoints', summed", res.Instances-1)
		}
		fmt.Fprintf(&b, "server (pid %d%s) memory %.1f MiB → %.1f MiB held (anonymous %.1f → %.1f): %.1f KiB per held Ping (anonymous %.1f); idle CPU %.2f%% of a core\n",
			r.ServerPID, others, mib(res.Before.RSS), mib(m.RSS), mib(res.Before.Anon), mib(m.Anon), float64(per.RSS)/1024, float64(per.Anon)/1024, res.IdleCPU*100)
	}
	fmt.Fprintf(&b, "single-device push → answer (%d): p50 %s, p99 %s, max %s\n", res.Push.Samples, ms(res.Push.P50), ms(res.Push.P99), ms(res.Push.Max))
	fmt.Fprintf(&b, "broadcast to %d: p50 %s, p99 %s, max %s\n", res.Answered, ms(res.Broadcast.P50), ms(res.Broadcast.P99), ms(res.Broadcast.Max))
	for _, h := range r.Handshakes {
		if h.Count == 0 {
			fmt.Fprintf(&b, "handshakes %-24s none: %s\n", h.Suite, h.FirstError)
			continue
		}
		fmt.Fprintf(&b, "handshakes %-24s %7.0f/s", h.Suite, h.PerSec)
		if h.PerCoreSec > 0 {
			fmt.Fprintf(&b, ", %7.0f per server core-second", h.PerCoreSec)
		}
		fmt.Fprintf(&b, " (%s leaf, %d errors)\n", h.Leaf, h.Errors)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
