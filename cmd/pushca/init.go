package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/profile"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create the private CA (one root, an intermediate per chain family) and the first server certificates",
		UsageText: `pushca init --host mail.example.com --profiles wm5,ios,android
   pushca --dir /etc/pushca init --host mail.example.com --profile wm6 --san autodiscover.example.com --password-file pw.txt
   pushca init --host mail.example.com --profiles ios,android --family modern-rsa
   pushca --dir /etc/pushca init --db postgresql://pushca@db.example.com:5432/pushca --host mail.example.com --profiles wm6,ios`,
		Description: `Name every kind of device in the fleet with --profiles (see pushca profiles).
The CA gets one root, which every device installs, and under it one
intermediate per chain family those devices need:
  ` + strings.Join(familyLines(), "\n  ") + `
With a legacy family the root is RSA 2048 self-signed with SHA-1 (whether
Windows Mobile accepts a SHA-256 self-signature is unconfirmed); modern
clients never check a root's self-signature. A family added later
(pushca ca add-family) goes under the same root.

The CA keys are stored PKCS#8-encrypted with the password, which comes from a
no-echo prompt or --password-file / PUSHCA_PASSWORD_FILE, never from a flag.

The database (step-ca's tables and pushca's inventory) is db/pushca.db in the
directory unless --db (or PUSHCA_DB) names a PostgreSQL database, which
several operators can then share: pushca.json and config/ca*.json record the
URL, so step-ca on config/ca.json uses it too, and a second operator copies
the directory (keys and certificate files stay in each operator's copy). The
URL never carries the database password: pushca and step-ca read it from
~/.pgpass, the file PGPASSFILE names, or PGPASSWORD.`,
		Flags: append(nameFlags(),
			&cli.StringSliceFlag{Name: "profiles", Aliases: []string{"profile"}, Value: cli.NewStringSlice(profile.Default),
				Usage: "device profiles of the fleet, comma-separated or repeated (" + strings.Join(profile.Names(), ", ") + ")"},
			&cli.StringSliceFlag{Name: "family", Usage: "chain families to create instead of those the profiles need (" + strings.Join(profile.FamilyNames(), ", ") + ")"},
			&cli.StringFlag{Name: "name", Value: "pushca", Usage: "CA name used in the certificate subjects"},
			&cli.StringFlag{Name: "host", Usage: "server host name for the first certificates (default: this machine's name)"},
			daysFlag("validity of the server certificates in days", "397, capped by each family"),
			&cli.StringFlag{Name: "crl-url", Usage: "CRL distribution point URL put into every certificate, e.g. http://HOST/pushca.crl (pushca serve --http publishes it there)"},
			passwordFileFlag(), jsonFlag,
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("init takes no arguments; did you mean --host %s?", c.Args().First())
			}
			families, err := initFamilies(c)
			if err != nil {
				return err
			}
			host := c.String("host")
			if host == "" {
				h, err := os.Hostname()
				if err != nil {
					return fmt.Errorf("no --host given and the machine's name is unknown: %w", err)
				}
				host = strings.ToLower(h)
			}
			ips, err := parseIPs(c.StringSlice("ip"))
			if err != nil {
				return err
			}
			dir := c.String("dir")
			// Before the password prompt: asking twice for a password and
			// then refusing the directory wastes the operator's time.
			if err := ca.CheckInitTarget(dir); err != nil {
				return err
			}
			dsn, _, err := dbFlag(c)
			if err != nil {
				return err
			}
			if dsn != "" {
				if err := ca.CheckInitDB(c.Context, dsn); err != nil {
					return fmt.Errorf("--db: %w", err)
				}
			}
			pw, err := caPassword(c, true)
			if err != nil {
				return err
			}
			err = ca.Init(c.Context, dir, ca.InitOptions{
				Name: c.String("name"), Families: families, Password: pw, CRLURL: c.String("crl-url"), DB: dsn,
			})
			if err != nil {
				return err
			}
			authority, err := ca.Open(c.Context, dir, pw)
			if err != nil {
				return err
			}
			defer authority.Close()
			is, err := authority.Issue(c.Context, ca.IssueRequest{Host: host, DNS: c.StringSlice("san"), IPs: ips, Days: c.Int("days")})
			if err != nil {
				return fmt.Errorf("the CA was created in %s, but the first server certificate failed (retry with `pushca cert issue`): %w", dir, err)
			}
			// Empty CRLs from the start, so that no distribution point a
			// certificate names is ever a 404.
			if _, err := authority.CRL(c.Context); err != nil {
				return fmt.Errorf("the CA was created in %s, but its first CRLs were not (run `pushca ca crl`): %w", dir, err)
			}
			var served []string
			for _, p := range authority.Profiles() {
				served = append(served, p.Name)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, map[string]any{
					"dir": dir, "database": authority.Database(), "families": families, "profiles": served,
					"root": authority.Layout().RootCert(), "servers": issuedRecords(is),
				})
			}
			fmt.Fprintf(c.App.Writer, "created CA %q in %s: one root, chain families %s (serves %s)\n",
				c.String("name"), dir, strings.Join(families, ", "), strings.Join(served, ", "))
			fmt.Fprintf(c.App.Writer, "root certificate for devices: %s\ndatabase: %s\n", authority.Layout().RootCert(), authority.Database())
			return printIssued(c, is)
		},
	}
}

// initFamilies are the chain families init creates: --family as given, or
// those the --profiles need.
func initFamilies(c *cli.Context) ([]string, error) {
	if fs := c.StringSlice("family"); len(fs) > 0 {
		for _, f := range fs {
			if _, err := profile.GetFamily(f); err != nil {
				return nil, fmt.Errorf("--family: %w", err)
			}
		}
		return fs, nil
	}
	fs, err := profile.FamiliesFor(c.StringSlice("profiles"))
	if err != nil {
		return nil, fmt.Errorf("--profiles: %w", err)
	}
	return fs, nil
}
