package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/provision"
)

func caCommand() *cli.Command {
	return &cli.Command{
		Name:  "ca",
		Usage: "inspect the CA, add chain families, rotate intermediates and publish the CRLs",
		Subcommands: []*cli.Command{
			caAddFamilyCommand(),
			caCheckCommand(),
			caBackupCommand(),
			caRestoreCommand(),
			caMigrateCommand(),
			caRotateIntermediateCommand(),
			caCRLCommand(),
			caRevokeIntermediateCommand(),
			{
				Name:      "inspect",
				Usage:     "show the root and each family's intermediate, with fingerprints (no CA password needed)",
				UsageText: "pushca ca inspect\n   pushca ca inspect --json",
				Flags:     []cli.Flag{jsonFlag},
				Action: withReader(func(c *cli.Context, authority *ca.Reader) error {
					type certInfo struct {
						Family    string    `json:"family,omitempty"`
						Subject   string    `json:"subject"`
						Serial    string    `json:"serial"`
						Signature string    `json:"signature"`
						Key       string    `json:"key"`
						NotAfter  time.Time `json:"notAfter"`
						SHA256    string    `json:"sha256"`
						SHA1      string    `json:"sha1"`
					}
					info := func(family string, x *x509.Certificate) certInfo {
						return certInfo{family, x.Subject.CommonName, x.SerialNumber.String(), x.SignatureAlgorithm.String(), profile.KeyDesc(x.PublicKey), x.NotAfter.UTC(),
							provision.SHA256(x).Colon(), provision.SHA1(x).Colon()}
					}
					var inters []certInfo
					for _, f := range authority.Families() {
						inters = append(inters, info(f.Name, authority.Intermediate(f.Name)))
					}
					root := info("", authority.Root())
					var served []string
					for _, p := range authority.Profiles() {
						served = append(served, p.Name)
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, map[string]any{
							"dir": authority.Layout().Dir, "profiles": served, "root": root, "intermediates": inters,
						})
					}
					w := c.App.Writer
					fmt.Fprintf(w, "state directory: %s\nserves profiles: %s\n", authority.Layout().Dir, strings.Join(served, ", "))
					print := func(what string, ci certInfo) {
						fmt.Fprintf(w, "%s: %s\n  serial %s, %s, %s, expires %s\n  SHA-256 %s\n  SHA-1   %s\n",
							what, ci.Subject, ci.Serial, ci.Key, ci.Signature, ci.NotAfter.Format("2006-01-02"), ci.SHA256, ci.SHA1)
					}
					print("root (on every device)", root)
					for _, ci := range inters {
						print(ci.Family+" intermediate", ci)
					}
					return nil
				}),
			},
		},
	}
}

func caCheckCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "cross-check the database, the certificate files, the CRLs and step-ca's tables; exit 1 on any mismatch (no CA password needed)",
		UsageText: "pushca ca check\n   pushca ca check --json",
		Description: `Checks that every family's intermediate is under the root; that every
certificate in pushca's inventory is in step-ca's table and every revocation
in both; that each active certificate's files are complete and its "current"
link points at it; and that each family's CRL is signed by its intermediate,
not stale, and lists every unexpired revocation of the family. A damaged or
missing database fails before any of this, naming the file. On PostgreSQL,
the files of a certificate another operator's directory issued are that
directory's to check (cert list --json names it as "files").`,
		Flags: []cli.Flag{jsonFlag},
		Action: withReader(func(c *cli.Context, r *ca.Reader) error {
			problems, err := r.Check(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if problems == nil {
					problems = []string{}
				}
				if err := printJSON(c.App.Writer, map[string]any{"ok": len(problems) == 0, "problems": problems}); err != nil {
					return err
				}
			} else {
				for _, p := range problems {
					fmt.Fprintln(c.App.Writer, "MISMATCH", p)
				}
			}
			if len(problems) > 0 {
				return fmt.Errorf("%s: %d mismatch(es)", r.Layout().Dir, len(problems))
			}
			if !c.Bool("json") {
				fmt.Fprintf(c.App.Writer, "%s: database, certificate files, CRLs and step-ca's tables agree\n", r.Layout().Dir)
			}
			return nil
		}),
	}
}

func caBackupCommand() *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "write a consistent snapshot of the CA to a file (no CA password needed)",
		UsageText: "pushca ca backup --out /backup/pushca-$(date +%F).tar.gz",
		Description: `The snapshot (a gzip-compressed tar, 0600) holds the database as one read
transaction sees it, pushca.json, config/, certs/, secrets/ (the CA keys,
encrypted under the CA password as always) and servers/ (the server keys are
the plain files the servers read, as on disk: keep the backup as private as
the directory). It never holds the CA password: quickstart's files and the
test endpoint's state (push/) are left out. Restore with pushca ca restore.

A CA on PostgreSQL is backed up the same way: its tables, read in one
transaction, go into the archive as the bbolt file db/pushca.db, which the
archive's pushca.json and config/ca*.json name. A restore therefore gives a
directory on bbolt; pushca ca migrate --to postgresql://... moves it back.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Required: true, Usage: "file to write (replaced atomically)"},
		},
		Action: withReader(func(c *cli.Context, r *ca.Reader) error {
			var buf bytes.Buffer
			n, err := r.Backup(c.Context, &buf)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(c.String("out"), buf.Bytes(), atomicfile.FileMode); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "backed up %s (database %s) to %s: %d entries, %d bytes\n", r.Layout().Dir, r.Database(), c.String("out"), n, buf.Len())
			return nil
		}),
	}
}

func caRestoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "restore the CA from a backup into --dir, then check it",
		ArgsUsage: "BACKUP",
		UsageText: "pushca --dir /etc/pushca ca restore /backup/pushca-2026-12-01.tar.gz\n   pushca --dir /etc/pushca ca restore /backup/pushca-2026-12-01.tar.gz --force",
		Description: `A --dir that exists and is not empty is refused; with --force it is moved
aside to DIR.replaced-TIME (never deleted). The backup is unpacked beside
--dir and moved into place only when complete, then checked as pushca ca
check does. Revocations made after the backup are not in it: revoke those
certificates again.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "move an existing --dir aside instead of refusing"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("ca restore needs exactly one BACKUP argument (see --help)")
			}
			name := c.Args().First()
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("backup %s: %w", name, err)
			}
			defer f.Close()
			moved, err := ca.Restore(c.Context, f, name, c.String("dir"), c.Bool("force"))
			if err != nil {
				return err
			}
			if moved != "" {
				fmt.Fprintf(c.App.Writer, "moved the previous %s aside to %s\n", c.String("dir"), moved)
			}
			fmt.Fprintf(c.App.Writer, "restored %s into %s\n", name, c.String("dir"))
			return caCheckCommand().Action(c)
		},
	}
}

func caAddFamilyCommand() *cli.Command {
	return &cli.Command{
		Name:      "add-family",
		Usage:     "add a chain family to the CA: a new intermediate under the same root",
		ArgsUsage: "FAMILY",
		UsageText: `pushca ca add-family modern
   pushca ca add-family modern --host mail.example.com`,
		Description: `Families:
  ` + strings.Join(familyLines(), "\n  ") + `

The root does not change, so devices enrolled with it are never touched
again: iPhones added to a Windows Mobile fleet trust the new modern chain
through the root they already have. With --host, the host also gets its
leaf of the new family (pushca cert issue HOST --family FAMILY otherwise).`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "host", Usage: "issue the new family's certificate for this host too (repeatable)"},
			daysFlag("validity of the new intermediate in days", "3650, capped by the root"),
			passwordFileFlag(), jsonFlag,
		},
		Before: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("ca add-family needs exactly one FAMILY argument (%s)", strings.Join(profile.FamilyNames(), ", "))
			}
			_, err := profile.GetFamily(c.Args().First())
			return err
		},
		Action: withRootKey(func(c *cli.Context, authority *ca.CA, pw []byte) error {
			family := c.Args().First()
			inter, err := authority.AddFamily(c.Context, pw, family, time.Duration(c.Int("days"))*24*time.Hour)
			if err != nil {
				return err
			}
			var issued []*ca.Issued
			for _, h := range c.StringSlice("host") {
				is, err := authority.Issue(c.Context, ca.IssueRequest{Host: h, Families: []string{family}})
				if err != nil {
					return fmt.Errorf("the %s family was added, but issuing for %s failed (run `pushca cert issue %s --family %s`): %w", family, h, h, family, err)
				}
				issued = append(issued, is...)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, map[string]any{
					"family": family, "intermediate": inter.Subject.CommonName, "serial": inter.SerialNumber.String(),
					"notAfter": inter.NotAfter.UTC(), "issued": issuedRecords(issued),
				})
			}
			fmt.Fprintf(c.App.Writer, "added the %s chain family: intermediate %q (serial %s, expires %s) under the same root\n",
				family, inter.Subject.CommonName, inter.SerialNumber, inter.NotAfter.Format("2006-01-02"))
			if len(issued) == 0 {
				fmt.Fprintf(c.App.Writer, "next: pushca cert issue HOST --family %s\n", family)
			} else if err := printIssued(c, issued); err != nil {
				return err
			}
			// pushca serve reads the CA's families when it starts.
			fmt.Fprintln(c.App.Writer, "a running pushca serve serves the new family once restarted")
			return nil
		}),
	}
}

// familyLines describes each chain family for --help.
func familyLines() []string {
	var out []string
	for _, f := range profile.Families() {
		out = append(out, fmt.Sprintf("%-11s %s", f.Name, f.Description))
	}
	return out
}

func issuedRecords(issued []*ca.Issued) []ca.Record {
	out := []ca.Record{}
	for _, is := range issued {
		out = append(out, is.Record)
	}
	return out
}

func caRotateIntermediateCommand() *cli.Command {
	return &cli.Command{
		Name:  "rotate-intermediate",
		Usage: "make new intermediates under the same root and reissue the active server certificates under them",
		UsageText: `pushca ca rotate-intermediate
   pushca ca rotate-intermediate --family legacy --days 1825 --no-reissue`,
		Description: `Devices are not touched: they trust the root. Each server certificate keeps the
chain it was issued with until it is reissued; with --no-reissue, run
pushca cert renew HOST for each host later. The old intermediates stay in
certs/intermediates and secrets/intermediates.`,
		Flags: []cli.Flag{
			familyFlag(),
			daysFlag("validity of the new intermediates in days", "3650, capped by the root"),
			&cli.BoolFlag{Name: "no-reissue", Usage: "leave the active server certificates under the old intermediates"},
			passwordFileFlag(), jsonFlag,
		},
		Action: withRootKey(func(c *cli.Context, authority *ca.CA, pw []byte) error {
			families := c.StringSlice("family")
			if len(families) == 0 {
				for _, f := range authority.Families() {
					families = append(families, f.Name)
				}
			}
			old := map[string]*x509.Certificate{}
			for _, f := range families {
				if inter := authority.Intermediate(f); inter != nil {
					old[f] = inter
				}
			}
			if err := authority.RotateIntermediate(c.Context, pw, time.Duration(c.Int("days"))*24*time.Hour, families...); err != nil {
				return err
			}
			var reissued []*ca.Issued
			for _, f := range families {
				if c.Bool("no-reissue") {
					break
				}
				hosts, err := authority.ActiveHosts(c.Context, f)
				if err != nil {
					return err
				}
				for _, h := range hosts {
					is, err := authority.Renew(c.Context, h, f)
					reissued = append(reissued, is...)
					if err != nil {
						return fmt.Errorf("the intermediates were rotated, but reissuing %s failed (run `pushca cert renew %s --family %s`): %w", h, h, f, err)
					}
				}
			}
			type rotated struct {
				Family       string    `json:"family"`
				Previous     string    `json:"previous"`
				PrevSerial   string    `json:"previousSerial"`
				Intermediate string    `json:"intermediate"`
				Serial       string    `json:"serial"`
				NotAfter     time.Time `json:"notAfter"`
			}
			var done []rotated
			for _, f := range families {
				inter := authority.Intermediate(f)
				done = append(done, rotated{f, old[f].Subject.CommonName, old[f].SerialNumber.String(), inter.Subject.CommonName, inter.SerialNumber.String(), inter.NotAfter.UTC()})
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, map[string]any{"rotated": done, "reissued": issuedRecords(reissued)})
			}
			for _, r := range done {
				fmt.Fprintf(c.App.Writer, "new %s intermediate %q (serial %s, expires %s) replaces %q (serial %s)\n", r.Family, r.Intermediate, r.Serial, r.NotAfter.Format("2006-01-02"), r.Previous, r.PrevSerial)
			}
			if len(done) > 0 {
				fmt.Fprintf(c.App.Writer, "if an old intermediate's key may be compromised: pushca ca revoke-intermediate %s --reason ca-compromise\n", done[0].PrevSerial)
			}
			for _, is := range reissued {
				fmt.Fprintf(c.App.Writer, "reissued %s under it (%s family, serial %s)\n", is.Record.Host, is.Record.Family, is.Record.Serial)
			}
			return nil
		}),
	}
}

func caCRLCommand() *cli.Command {
	return &cli.Command{
		Name:      "crl",
		Usage:     "regenerate the certificate revocation lists: one per chain family, and the root's",
		UsageText: "pushca ca crl\n   pushca ca crl --out /var/www/pushca.crl --pem",
		Description: `Each family's intermediate signs the list of the certificates it issued, and
the root signs the list of revoked intermediates (valid for a year: run this
again before then; ` + "`pushca ca check`" + ` warns a month ahead). With --out FILE
the first family's list is copied to FILE, every other family's to FILE with
"-FAMILY" before its extension (pushca-modern.crl) and the root's to FILE with
"-root" (pushca-root.crl): the URLs the certificates name when the CA was made
with --crl-url. pushca serve publishes them at the same paths.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "also write the CRLs to this file (FILE-FAMILY, FILE-root for the others)"},
			&cli.BoolFlag{Name: "pem", Usage: "write --out as PEM instead of DER"},
			passwordFileFlag(),
		},
		Action: withRootKey(func(c *cli.Context, authority *ca.CA, pw []byte) error {
			crls, err := authority.CRL(c.Context)
			if err != nil {
				return err
			}
			root, err := authority.RootCRL(c.Context, pw)
			if err != nil {
				return err
			}
			for _, f := range crls {
				if err := writeCRL(c, f.Slot.Family+" CRL", f.Path, f.DER, f.Slot.Suffix()); err != nil {
					return err
				}
			}
			return writeCRL(c, "root CRL", root.Path, root.DER, ca.RootCRLSuffix)
		}),
	}
}

// writeCRL reports a CRL written and copies it to --out with suffix.
func writeCRL(c *cli.Context, what, path string, der []byte, suffix string) error {
	fmt.Fprintf(c.App.Writer, "%s written to %s (%d bytes)\n", what, path, len(der))
	out := c.String("out")
	if out == "" {
		return nil
	}
	if suffix != "" {
		ext := filepath.Ext(out)
		out = strings.TrimSuffix(out, ext) + suffix + ext
	}
	if c.Bool("pem") {
		der = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	if err := atomicfile.WriteFile(out, der, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s copied to %s\n", what, out)
	return nil
}

func caRevokeIntermediateCommand() *cli.Command {
	return &cli.Command{
		Name:  "revoke-intermediate",
		Usage: "revoke an intermediate (by serial) in the root's CRL",
		UsageText: `pushca ca revoke-intermediate 4827340982734 --reason ca-compromise
   pushca ca revoke-intermediate 4827340982734 --reason ca-compromise --force`,
		Description: `The root's CRL lists revoked intermediates; with --crl-url every
intermediate names it, so clients that check the whole chain refuse every
certificate under a revoked one. Rotate first (pushca ca rotate-intermediate
prints the old serial); a family's current intermediate is revoked only with
--force, after which its family issues nothing such clients accept until it is
rotated. Serials: pushca ca inspect, or ls certs/intermediates/.`,
		Flags: []cli.Flag{
			reasonFlag(),
			&cli.BoolFlag{Name: "force", Usage: "revoke a family's current intermediate"},
			passwordFileFlag(), jsonFlag,
		},
		Action: func(c *cli.Context) error {
			// Before the password prompt.
			if c.NArg() != 1 {
				return usageErrorf("ca revoke-intermediate needs exactly one SERIAL argument (see --help)")
			}
			code, err := ca.ReasonCode(c.String("reason"))
			if err != nil {
				return err
			}
			return withRootKey(func(c *cli.Context, authority *ca.CA, pw []byte) error {
				return revokeIntermediate(c, authority, pw, code)
			})(c)
		},
	}
}

func revokeIntermediate(c *cli.Context, authority *ca.CA, pw []byte, code int) error {
	rec, crl, err := authority.RevokeIntermediate(c.Context, pw, c.Args().First(), c.String("reason"), code, c.Bool("force"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, rec)
	}
	fmt.Fprintf(c.App.Writer, "revoked the %s intermediate %q (serial %s, reason %s)\nroot CRL written to %s: publish it where the intermediates' distribution point names (pushca serve does)\n",
		rec.Family, rec.Subject, rec.Serial, rec.Reason, crl.Path)
	return nil
}

// reasonFlag is --reason, an RFC 5280 revocation reason by name.
func reasonFlag() cli.Flag {
	return &cli.StringFlag{Name: "reason", Value: "unspecified", Usage: "unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, cessation-of-operation"}
}
