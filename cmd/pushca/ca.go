package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/provision"
)

func caCommand() *cli.Command {
	return &cli.Command{
		Name:  "ca",
		Usage: "inspect the CA and publish its CRL",
		Subcommands: []*cli.Command{
			caRotateIntermediateCommand(),
			{
				Name:      "crl",
				Usage:     "regenerate the certificate revocation list",
				UsageText: "pushca ca crl\n   pushca ca crl --out /var/www/pushca.crl --pem",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Usage: "also write the CRL to this file"},
					&cli.BoolFlag{Name: "pem", Usage: "write --out as PEM instead of DER"},
					passwordFileFlag(),
				},
				Action: withCA(func(c *cli.Context, authority *ca.CA) error {
					der, err := authority.CRL(c.Context)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "CRL written to %s (%d bytes)\n", authority.Layout().CRL(), len(der))
					out := c.String("out")
					if out == "" {
						return nil
					}
					if c.Bool("pem") {
						der = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
					}
					if err := atomicfile.WriteFile(out, der, 0o644); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "CRL copied to %s\n", out)
					return nil
				}),
			},
			{
				Name:      "inspect",
				Usage:     "show the CA certificates, their fingerprints and the CA profile",
				UsageText: "pushca ca inspect\n   pushca ca inspect --json",
				Flags:     []cli.Flag{passwordFileFlag(), jsonFlag},
				Action: withCA(func(c *cli.Context, authority *ca.CA) error {
					type certInfo struct {
						Subject   string    `json:"subject"`
						Serial    string    `json:"serial"`
						Signature string    `json:"signature"`
						NotAfter  time.Time `json:"notAfter"`
						SHA256    string    `json:"sha256"`
						SHA1      string    `json:"sha1"`
					}
					info := func(x *x509.Certificate) certInfo {
						return certInfo{x.Subject.CommonName, x.SerialNumber.String(), x.SignatureAlgorithm.String(), x.NotAfter.UTC(),
							provision.SHA256(x).Colon(), provision.SHA1(x).Colon()}
					}
					out := map[string]any{
						"dir": authority.Layout().Dir, "profile": authority.Profile().Name,
						"root": info(authority.Root()), "intermediate": info(authority.Intermediate()),
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, out)
					}
					fmt.Fprintf(c.App.Writer, "state directory: %s\nprofile: %s\n", authority.Layout().Dir, authority.Profile().Name)
					for _, k := range []string{"root", "intermediate"} {
						ci := out[k].(certInfo)
						fmt.Fprintf(c.App.Writer, "%s: %s\n  serial %s, %s, expires %s\n  SHA-256 %s\n  SHA-1   %s\n",
							k, ci.Subject, ci.Serial, ci.Signature, ci.NotAfter.Format("2006-01-02"), ci.SHA256, ci.SHA1)
					}
					return nil
				}),
			},
		},
	}
}

func caRotateIntermediateCommand() *cli.Command {
	return &cli.Command{
		Name:  "rotate-intermediate",
		Usage: "make a new intermediate under the same root and reissue the active server certificates under it",
		UsageText: `pushca ca rotate-intermediate
   pushca ca rotate-intermediate --days 1825 --no-reissue`,
		Description: `Devices are not touched: they trust the root. Each server certificate keeps the
chain it was issued with until it is reissued; with --no-reissue, run
pushca cert renew HOST for each host later. The old intermediate stays in
certs/intermediates and secrets/intermediates.`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "days", Usage: "validity of the new intermediate in days (default 3650, capped by the root)"},
			&cli.BoolFlag{Name: "no-reissue", Usage: "leave the active server certificates under the old intermediate"},
			passwordFileFlag(), jsonFlag,
		},
		Action: func(c *cli.Context) error {
			pw, err := caPassword(c, false)
			if err != nil {
				return err
			}
			authority, err := ca.Open(c.Context, c.String("dir"), pw)
			if err != nil {
				return err
			}
			defer authority.Close()
			old := authority.Intermediate().Subject.CommonName
			if err := authority.RotateIntermediate(c.Context, pw, time.Duration(c.Int("days"))*24*time.Hour); err != nil {
				return err
			}
			var reissued []ca.Record
			if !c.Bool("no-reissue") {
				hosts, err := authority.ActiveHosts(c.Context)
				if err != nil {
					return err
				}
				for _, h := range hosts {
					is, err := authority.Renew(c.Context, h)
					if err != nil {
						return fmt.Errorf("the intermediate was rotated, but reissuing %s failed (run `pushca cert renew %s`): %w", h, h, err)
					}
					reissued = append(reissued, is.Record)
				}
			}
			inter := authority.Intermediate()
			if c.Bool("json") {
				if reissued == nil {
					reissued = []ca.Record{}
				}
				return printJSON(c.App.Writer, map[string]any{
					"previous": old, "intermediate": inter.Subject.CommonName, "serial": inter.SerialNumber.String(),
					"notAfter": inter.NotAfter.UTC(), "reissued": reissued,
				})
			}
			fmt.Fprintf(c.App.Writer, "new intermediate %q (serial %s, expires %s) replaces %q\n", inter.Subject.CommonName, inter.SerialNumber, inter.NotAfter.Format("2006-01-02"), old)
			for _, r := range reissued {
				fmt.Fprintf(c.App.Writer, "reissued %s under it (serial %s)\n", r.Host, r.Serial)
			}
			return nil
		},
	}
}
