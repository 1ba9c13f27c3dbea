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
		Usage: "create the private CA (root + intermediate) and the first server certificate",
		UsageText: `pushca init --host mail.example.com --profile wm5
   pushca --dir /etc/pushca init --host mail.example.com --san autodiscover.example.com --password-file pw.txt`,
		Description: `The CA keys are stored PKCS#8-encrypted with the password, which comes from a
no-echo prompt or --password-file / PUSHCA_PASSWORD_FILE, never from a flag.
Choose the profile of the OLDEST devices in the fleet (see pushca profiles):
the chain is issued under its rules.`,
		Flags: append(nameFlags(),
			&cli.StringFlag{Name: "profile", Value: profile.Default, Usage: "device profile the chain is issued under (" + strings.Join(profile.Names(), ", ") + ")"},
			&cli.StringFlag{Name: "name", Value: "pushca", Usage: "CA name used in the certificate subjects"},
			&cli.StringFlag{Name: "host", Usage: "server host name for the first certificate (default: this machine's name)"},
			&cli.IntFlag{Name: "days", Usage: "validity of the server certificate in days"},
			&cli.StringFlag{Name: "crl-url", Usage: "CRL distribution point URL put into every certificate, e.g. http://HOST/pushca.crl (published there by `pushca serve --http`)"},
			passwordFileFlag(), jsonFlag,
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("init takes no arguments; did you mean --host %s?", c.Args().First())
			}
			host := c.String("host")
			if host == "" {
				h, err := os.Hostname()
				if err != nil {
					return fmt.Errorf("no --host given and the machine's name is unknown: %w", err)
				}
				host = strings.ToLower(h)
			}
			pw, err := caPassword(c, true)
			if err != nil {
				return err
			}
			dir := c.String("dir")
			err = ca.Init(c.Context, dir, ca.InitOptions{
				Name: c.String("name"), Profile: c.String("profile"), Password: pw, CRLURL: c.String("crl-url"),
			})
			if err != nil {
				return err
			}
			authority, err := ca.Open(c.Context, dir, pw)
			if err != nil {
				return err
			}
			defer authority.Close()
			ips, err := parseIPs(c.StringSlice("ip"))
			if err != nil {
				return err
			}
			is, err := authority.Issue(c.Context, ca.IssueRequest{Host: host, DNS: c.StringSlice("san"), IPs: ips, Days: c.Int("days")})
			if err != nil {
				return fmt.Errorf("the CA was created in %s, but the first server certificate failed (retry with `pushca cert issue`): %w", dir, err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, map[string]any{
					"dir": dir, "profile": authority.Profile().Name,
					"root": authority.Layout().RootCert(), "server": is.Record,
				})
			}
			fmt.Fprintf(c.App.Writer, "created CA %q (profile %s) in %s\n", c.String("name"), authority.Profile().Name, dir)
			fmt.Fprintf(c.App.Writer, "root certificate for devices: %s\n", authority.Layout().RootCert())
			return printIssued(c, is)
		},
	}
}
