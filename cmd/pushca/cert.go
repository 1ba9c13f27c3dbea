package main

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"go.step.sm/crypto/pemutil"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/profile"
)

func certCommand() *cli.Command {
	return &cli.Command{
		Name:  "cert",
		Usage: "issue, renew, rotate, revoke and list server certificates",
		Subcommands: []*cli.Command{
			certIssueCommand(),
			certReissueCommand("renew", "new certificates with the same keys, names and families",
				"pushca cert renew mail.example.com\n   pushca cert renew mail.example.com --family legacy\n   pushca cert renew --all --within 30d --exec 'systemctl reload nginx'", false),
			certReissueCommand("rotate", "new certificates with new keys (or the key of --csr)",
				"pushca cert rotate mail.example.com\n   pushca cert rotate mail.example.com --family modern --csr mail.csr\n   pushca cert rotate mail.example.com --exec 'pushca cert export \"$PUSHCA_HOST\" --format nginx --out /etc/nginx/pushca'", true),
			certRevokeCommand(),
			certPlanCommand(),
			certListCommand(),
			certStatusCommand(),
			certExportCommand(),
			certTimerCommand(),
		},
	}
}

// nameFlags are the names a server certificate covers besides its host.
func nameFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "san", Usage: "extra DNS name (repeatable)"},
		&cli.StringSliceFlag{Name: "ip", Usage: "IP address SAN (repeatable)"},
	}
}

// familyFlag limits a command to some of the CA's chain families.
func familyFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "family", Usage: "chain family (" + strings.Join(profile.FamilyNames(), ", ") + "; repeatable); default: every family of the CA"}
}

// daysFlag is a --days flag that, when given, is at least 1: 0 used to
// mean the default without a word.
func daysFlag(usage, defaultText string) cli.Flag {
	return &cli.IntFlag{Name: "days", Usage: usage, DefaultText: defaultText, Action: func(_ *cli.Context, d int) error {
		if d < 1 {
			return fmt.Errorf("--days %d: give at least 1, or leave --days out for the default", d)
		}
		return nil
	}}
}

func parseIPs(ss []string) ([]net.IP, error) {
	var out []net.IP
	for _, s := range ss {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("--ip %q is not an IP address", s)
		}
		out = append(out, ip)
	}
	return out, nil
}

func certIssueCommand() *cli.Command {
	return &cli.Command{
		Name:      "issue",
		Usage:     "issue server certificates for HOST, one per chain family of the CA",
		ArgsUsage: "HOST",
		UsageText: `pushca cert issue mail.example.com --san autodiscover.example.com
   pushca cert issue mail.example.com --family modern --days 365
   pushca cert issue mail.example.com --family legacy --csr mail.csr --force`,
		Description: `Each family gets its own leaf for the same names: the legacy one (RSA, SHA-1)
for Windows Mobile, the modern one (ECDSA, SHA-256, at most 825 days) for
iPhones and Android. pushca serve picks the chain for each device's handshake.`,
		Flags: append(nameFlags(), familyFlag(),
			&cli.StringFlag{Name: "profile", Usage: "only the family that serves this device profile"},
			daysFlag("validity in days", "397, capped by each family: 825 for modern"),
			&cli.StringFlag{Name: "csr", Usage: "PEM certificate request supplying the public key; no key is written"},
			&cli.BoolFlag{Name: "force", Usage: "issue even though HOST has an active certificate"},
			passwordFileFlag(), jsonFlag,
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("cert issue needs exactly one HOST argument (see --help)")
			}
			ips, err := parseIPs(c.StringSlice("ip"))
			if err != nil {
				return err
			}
			req := ca.IssueRequest{
				Host: c.Args().First(), DNS: c.StringSlice("san"), IPs: ips,
				Families: c.StringSlice("family"), Profile: c.String("profile"), Days: c.Int("days"), Force: c.Bool("force"),
			}
			if f := c.String("csr"); f != "" {
				if req.CSR, err = pemutil.ReadCertificateRequest(f); err != nil {
					return fmt.Errorf("--csr %s: %w", f, err)
				}
			}
			authority, err := openCA(c)
			if err != nil {
				return err
			}
			defer authority.Close()
			is, err := authority.Issue(c.Context, req)
			if perr := printIssued(c, is); perr != nil {
				return perr
			}
			return err
		},
	}
}

func certReissueCommand(name, usage, example string, rotate bool) *cli.Command {
	flags := []cli.Flag{familyFlag(), passwordFileFlag(), jsonFlag}
	description := ""
	if rotate {
		flags = append(flags, &cli.StringFlag{Name: "csr", Usage: "PEM certificate request with the new public key"}, forceFlag("rotate"))
		flags = append(flags, adminFlags()...)
		description = preflightHelp("rotate")
	}
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		ArgsUsage:   "HOST",
		UsageText:   example,
		Description: description,
		Flags:       append(flags, deployFlags(!rotate)...),
		Action: withDeploy(name, func(c *cli.Context, authority *ca.CA, host string, families []string) ([]*ca.Issued, error) {
			if rotate {
				var csr *x509.CertificateRequest
				if f := c.String("csr"); f != "" {
					var err error
					if csr, err = pemutil.ReadCertificateRequest(f); err != nil {
						return nil, fmt.Errorf("--csr %s: %w", f, err)
					}
				}
				if err := rotatePreflight(c, authority, host); err != nil {
					return nil, err
				}
				return authority.Rotate(c.Context, host, csr, families...)
			}
			return authority.Renew(c.Context, host, families...)
		}),
	}
}

// forceFlag is --force of the commands that run cert plan's check first.
func forceFlag(verb string) cli.Flag {
	return &cli.BoolFlag{Name: "force", Usage: verb + " even though known devices would lose every chain they accept (see pushca cert plan)"}
}

// preflightHelp is the --help paragraph of a command that runs cert
// plan's check.
func preflightHelp(verb string) string {
	return `Before it signs or revokes anything, ` + verb + ` runs the check of pushca cert plan:
when devices pushca serve recorded on HOST's certificates would accept none of
the chain families HOST serves afterwards, it refuses and lists them, unless
--force. The device records come from push/devices.db, or from the admin API of
a running pushca serve (--admin).`
}

// rotatePreflight refuses a rotation that leaves known devices of host
// without a chain they accept. A rotation keeps every family the host has
// active, so it loses devices only where that set already misses one they
// need: after a family was revoked, or to a host never given it; a new
// key is the moment to notice, before the deploy hook ships it.
func rotatePreflight(c *cli.Context, authority *ca.CA, host string) error {
	if err := loopbackAdmin(c.String("admin")); err != nil {
		return err
	}
	host = strings.ToLower(host)
	recs, err := authority.List(c.Context)
	if err != nil {
		return err
	}
	after := activeFamilies(recs, host)
	if len(after) == 0 {
		return nil // nothing to rotate: Rotate says so
	}
	return preflight(c, recs, host, after, "cert rotate "+host, c.Bool("force"))
}

// printIssued prints what an issuance wrote, even when a later family
// failed: those certificates are active and their files in place.
func printIssued(c *cli.Context, issued []*ca.Issued) error {
	if c.Bool("json") {
		type out struct {
			ca.Record
			CertFile  string `json:"certFile"`
			ChainFile string `json:"chainFile"`
			KeyFile   string `json:"keyFile,omitempty"`
		}
		list := []out{}
		for _, is := range issued {
			list = append(list, out{is.Record, is.CertFile, is.ChainFile, is.KeyFile})
		}
		return printJSON(c.App.Writer, list)
	}
	w := c.App.Writer
	for _, is := range issued {
		r := is.Record
		fmt.Fprintf(w, "issued %s for %s (%s family, %s, %s)\n", r.Serial, r.Host, r.Family, r.Key, r.Signature)
		fmt.Fprintf(w, "  names:     %s\n", strings.Join(append(slices.Clone(r.DNSNames), r.IPs...), ", "))
		fmt.Fprintf(w, "  valid:     %s to %s\n", r.NotBefore.Format(time.RFC3339), r.NotAfter.Format(time.RFC3339))
		fmt.Fprintf(w, "  chain:     %s\n", is.ChainFile)
		if is.KeyFile != "" {
			fmt.Fprintf(w, "  key:       %s\n", is.KeyFile)
		}
	}
	return nil
}

func certRevokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "revoke a certificate by serial number, or a host's active certificates, and regenerate the CRLs",
		ArgsUsage: "SERIAL|HOST",
		UsageText: `pushca cert revoke 2912384928347 --reason key-compromise
   pushca cert revoke mail.example.com --reason superseded
   pushca cert revoke mail.example.com --family legacy`,
		Description: preflightHelp("revoke HOST") + `
With --reason key-compromise it never refuses, since a compromised key must be
revocable at once: the devices it cuts off are a warning on stderr. Revoking by
SERIAL runs no check.`,
		Flags: append([]cli.Flag{familyFlag(),
			reasonFlag(),
			forceFlag("revoke HOST"),
			passwordFileFlag(), jsonFlag,
		}, adminFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("cert revoke needs exactly one SERIAL or HOST argument (see --help)")
			}
			code, err := ca.ReasonCode(c.String("reason"))
			if err != nil {
				return err
			}
			if err := loopbackAdmin(c.String("admin")); err != nil {
				return err
			}
			authority, err := openCA(c)
			if err != nil {
				return err
			}
			defer authority.Close()
			if err := revokePreflight(c, authority, code); err != nil {
				return err
			}
			recs, err := authority.Revoke(c.Context, c.Args().First(), c.String("reason"), code, c.StringSlice("family")...)
			if c.Bool("json") {
				if recs == nil {
					recs = []ca.Record{}
				}
				if perr := printJSON(c.App.Writer, recs); perr != nil {
					return perr
				}
				return err
			}
			for _, r := range recs {
				fmt.Fprintf(c.App.Writer, "revoked %s for %s (%s family, %s)\n", r.Serial, r.Host, r.Family, r.RevokedReason)
				fmt.Fprintf(c.App.Writer, "servers still presenting it must get a new one: pushca cert issue %s --family %s --force\n", r.Host, r.Family)
			}
			if err == nil {
				fmt.Fprintf(c.App.Writer, "CRLs written to %s\n", filepath.Dir(authority.Layout().CRL(ca.Slot{})))
			}
			return err
		},
	}
}

// revokePreflight refuses the host form of cert revoke when known devices
// of the host would accept none of the families it keeps. A serial is
// revoked unchecked, as before: it names one certificate on purpose, and
// may be a superseded one no device is offered any more.
func revokePreflight(c *cli.Context, authority *ca.CA, code int) error {
	arg := c.Args().First()
	recs, err := authority.List(c.Context)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(recs, func(r ca.Record) bool { return r.Serial == arg }) {
		return nil
	}
	host := strings.ToLower(arg)
	active := activeFamilies(recs, host)
	revoked := c.StringSlice("family")
	if len(revoked) == 0 {
		revoked = active
	}
	after := slices.DeleteFunc(slices.Clone(active), func(f string) bool { return slices.Contains(revoked, f) })
	if len(after) == len(active) {
		return nil // nothing of the host's would be revoked: Revoke says why
	}
	keyCompromise, _ := ca.ReasonCode("key-compromise")
	return preflight(c, recs, host, after, "cert revoke "+host, c.Bool("force") || code == keyCompromise)
}

func certListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list every certificate in the inventory (no CA password needed)",
		UsageText: "pushca cert list\n   pushca cert list --json | jq '.[] | select(.state==\"active\")'",
		Flags:     []cli.Flag{jsonFlag},
		Action: withReader(func(c *cli.Context, inv *ca.Reader) error {
			recs, err := inv.List(c.Context)
			if err != nil {
				return err
			}
			return printRecords(c, recs)
		}),
	}
}

func printRecords(c *cli.Context, recs []ca.Record) error {
	if c.Bool("json") {
		if recs == nil {
			recs = []ca.Record{}
		}
		return printJSON(c.App.Writer, recs)
	}
	writeTable(c.App.Writer, recs)
	return nil
}

func writeTable(out io.Writer, recs []ca.Record) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SERIAL\tHOST\tFAMILY\tKEY\tNOT AFTER\tDAYS LEFT\tSTATE\tSOURCE")
	now := time.Now()
	for _, r := range recs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Serial, r.Host, r.Family, r.Key, r.NotAfter.Format("2006-01-02"), r.DaysLeft(now), r.State, r.Source)
	}
	w.Flush()
}

func certStatusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "exit 3 when an active certificate expires within --within, 0 when none does (for cron; no CA password needed)",
		UsageText: `pushca cert status --within 30d || mail -s "renew pushca certificates" admin
   pushca cert status --json`,
		Description: `Exit codes: 0 nothing expires within --within; 3 something does; 1 any
other failure (a bad flag, an unreadable or damaged state directory).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "within", Value: "30d", Usage: "warning window: days (30d) or a Go duration (720h)"},
			jsonFlag,
		},
		Action: withReader(func(c *cli.Context, inv *ca.Reader) error {
			within, err := parseWithin(c.String("within"))
			if err != nil {
				return err
			}
			recs, err := inv.Expiring(c.Context, time.Now(), within)
			if err != nil {
				return err
			}
			if len(recs) == 0 && !c.Bool("json") {
				fmt.Fprintf(c.App.Writer, "no active certificate expires within %s\n", c.String("within"))
				return nil
			}
			if err := printRecords(c, recs); err != nil {
				return err
			}
			if len(recs) > 0 {
				return exitf(3, "%d active certificate(s) expire within %s: run `pushca cert renew HOST`", len(recs), c.String("within"))
			}
			return nil
		}),
	}
}

// parseWithin reads "30d" as days, anything else as a Go duration.
func parseWithin(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("--within %q: want a number of days like 30d, or a duration like 720h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("--within %q: want a number of days like 30d, or a duration like 720h", s)
	}
	return v, nil
}
