package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/pushca/pushca/provision"
	"github.com/pushca/pushca/push/enroll"
)

func bundleCommand() *cli.Command {
	flags := append(chainFlags(),
		&cli.StringFlag{Name: "users", Usage: "CSV of users with a header row (see the columns below)", Required: true},
		&cli.StringFlag{Name: "server", Usage: "Exchange server host name, without https:// or path", Required: true},
		&cli.StringFlag{Name: "domain", Usage: "Windows domain of users whose row names none"},
		&cli.StringSliceFlag{Name: "profile", Aliases: []string{"devices"}, Value: cli.NewStringSlice("wm6", "ios", "android"),
			Usage: "device kinds of users whose row names none: wm5, wm6, wm65, ios, android"},
		&cli.StringFlag{Name: "out", Usage: "output directory, outside --dir (created 0700 when missing; an existing one must be yours and not writable by group or others)", Required: true},
		&cli.BoolFlag{Name: "zip", Usage: "one users/NAME.zip per person, holding the shared root files too, instead of a folder"},
		&cli.BoolFlag{Name: "combined", Usage: "put the certificates into each account CAB instead of a shared root CAB"},
		&cli.BoolFlag{Name: "mszip", Usage: "compress the CABs (refused when a user has a wm5 device)"},
		&cli.BoolFlag{Name: "skip-invalid", Usage: "write the good rows and list the bad ones, instead of writing nothing"},
		&cli.StringFlag{Name: "base-url", Usage: "public address of pushca serve --http (http://enroll.example.com): each sheet gets a QR code of the user's own page there, an unguessable link stored in --dir"},
		&cli.DurationFlag{Name: "link-ttl", Value: 14 * 24 * time.Hour, Usage: "how long a new --base-url link works; a user's unexpired link is kept as it is unless --rotate-links"},
		&cli.BoolFlag{Name: "rotate-links", Usage: "give everyone in --users a new --base-url link; the old ones answer 410 Gone once the bundle is written"},
		jsonFlag,
	)
	flags = append(flags, signFlags()...)
	var cols strings.Builder
	for _, c := range provision.UserColumns {
		fmt.Fprintf(&cols, "     %-13s %s\n", c.Name, c.Meaning)
	}
	return &cli.Command{
		Name:  "bundle",
		Usage: "enrollment-day bundles from a CSV of users: per person the packages, a QR code and a printable sheet, plus manifest.json",
		UsageText: `pushca bundle --users staff.csv --server mail.example.com --domain CORP --out bundle
   pushca bundle --users staff.csv --server mail.example.com --profile wm5 --zip --out mail-these
   pushca bundle --users staff.csv --server mail.example.com --base-url http://enroll.example.com --out bundle
   pushca bundle --users staff.csv --server mail.example.com --sign-p12 signer.p12 --password-file pw.txt --out bundle

   Columns of --users (UTF-8 with or without BOM, or UTF-16 "Unicode Text"; separated
   by commas, semicolons or tabs, as the header row is; CRLF or LF; names are matched
   without regard to case, spaces, '-' or '_'):
` + cols.String() + `
   Every bad row is reported with its line; nothing is written unless all rows are
   good or --skip-invalid is given. A row is bad too when one of its device kinds
   needs a chain family the CA lacks (pushca ca add-family adds it). Re-running with the same inputs rewrites nothing;
   a run stopped midway is completed by running it again.

   Enrollment links belong to the bundle (--out) that issued them. Once a run has
   written its bundle, it revokes the links of its earlier runs that it no longer
   prints: those of people no longer in --users, and with --rotate-links everyone's
   old one. A revoked link answers 410 Gone; a failed run revokes nothing.`,
		Flags:  flags,
		Action: bundle,
	}
}

// bundleReport is the --json output of bundle.
type bundleReport struct {
	Out      string `json:"out"`
	Manifest string `json:"manifest"`
	serverNames
	Users        int                  `json:"users"`
	Files        int                  `json:"files"`
	Bytes        int64                `json:"bytes"`
	Skipped      []provision.RowError `json:"skipped,omitempty"`
	RootSHA256   string               `json:"root_sha256"`
	RootSHA1     string               `json:"root_sha1"`
	RevokedLinks []revokedLink        `json:"revoked_links,omitempty"`
}

func bundle(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("bundle takes no arguments, got %q (see --help)", c.Args().Slice())
	}
	out := c.String("out")
	if err := checkOutOfState(out, c.String("dir")); err != nil {
		return err
	}
	if c.Bool("rotate-links") && c.String("base-url") == "" {
		return usageErrorf("--rotate-links needs --base-url: without it the sheets carry no links to rotate")
	}
	server, display, err := serverName(c)
	if err != nil {
		return err
	}
	usersFile := c.String("users")
	csv, err := os.ReadFile(usersFile)
	if err != nil {
		return fmt.Errorf("--users: %w", err)
	}
	users, bad, err := provision.ReadUsers(bytes.NewReader(csv))
	if err != nil {
		return fmt.Errorf("--users %s: %w", usersFile, err)
	}
	devices, err := provision.ParseDevices(strings.Join(c.StringSlice("profile"), " "))
	if err != nil {
		return fmt.Errorf("--profile: %w", err)
	}
	chains, err := readChains(c)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(csv)
	b := provision.Bundle{
		Chains: chains, Server: server, Domain: c.String("domain"), Devices: devices,
		MSZIP: c.Bool("mszip"), Combined: c.Bool("combined"), Zip: c.Bool("zip"), Version: c.App.Version,
		// Only what decides the bytes: the same inputs give the same manifest.
		Inputs: map[string]string{
			"users_csv":        filepath.Base(usersFile),
			"users_csv_sha256": hex.EncodeToString(sum[:]),
			"server":           server,
			"domain":           c.String("domain"),
			"devices":          strings.Join(devices, " "),
			"zip":              strconv.FormatBool(c.Bool("zip")),
			"combined":         strconv.FormatBool(c.Bool("combined")),
			"mszip":            strconv.FormatBool(c.Bool("mszip")),
		},
	}
	// A person with a device kind whose chain family the CA lacks is a bad
	// row like any other: the root would install, and the phone would
	// still refuse the server.
	var served []provision.User
	for _, u := range users {
		if err := b.CheckUser(u); err != nil {
			bad = append(bad, provision.RowError{Line: u.Line, User: u.Name, Reason: addFamilyHint(c, err)})
			continue
		}
		served = append(served, u)
	}
	users = served
	slices.SortFunc(bad, func(x, y provision.RowError) int { return x.Line - y.Line })
	for _, e := range bad {
		fmt.Fprintf(stderr(c), "pushca: %s: %v\n", usersFile, e)
	}
	switch {
	case len(bad) > 0 && !c.Bool("skip-invalid"):
		return fmt.Errorf("--users %s: %s, nothing written (%s)", usersFile, count(len(bad), "bad row", "bad rows"), badRowsHint(len(bad), len(users)))
	case len(users) == 0:
		return fmt.Errorf("--users %s: no users to bundle", usersFile)
	}
	old, err := provision.ReadManifest(out)
	if err != nil {
		return err
	}
	// The signing password is asked only for a bundle that will be written.
	if b.Signer, err = readSigner(c); err != nil {
		return err
	}
	b.Inputs["signed"] = strconv.FormatBool(b.Signer != nil)
	run, err := linkRun(c, out, old)
	if err != nil {
		return err
	}
	var printed []enroll.Link
	if base := c.String("base-url"); base != "" {
		b.Inputs["base_url"] = base
		if b.URL, printed, err = issueLinks(c, run, b, users); err != nil {
			return err
		}
	}
	progress, finish := newProgress(stderr(c), len(users))
	b.Progress = progress
	m, err := b.Write(c.Context, out, users, bad)
	finish()
	if err != nil {
		return err
	}
	revoked, err := revokeLinks(c, run, b, printed, users, bad)
	if err != nil {
		return err
	}
	r := bundleReport{
		Out: out, Manifest: filepath.Join(out, provision.ManifestName), serverNames: newServerNames(server, display),
		Users: m.Users, Files: len(m.Files), Skipped: bad, RootSHA256: m.Root.SHA256, RootSHA1: m.Root.SHA1, RevokedLinks: revoked,
	}
	for _, f := range m.Files {
		r.Bytes += int64(f.Size)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, r)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "wrote %s, %s (%d bytes) under %s\nmanifest %s\n", count(r.Users, "user", "users"), count(r.Files, "file", "files"), r.Bytes, r.Out, r.Manifest)
	r.serverNames.print(w)
	fmt.Fprintf(w, "root %s\n  SHA-256 %s\n  SHA-1   %s\n", m.Root.Subject, r.RootSHA256, r.RootSHA1)
	if len(bad) > 0 {
		fmt.Fprintf(w, "skipped %s (listed above and in the manifest)\n", count(len(bad), "bad row", "bad rows"))
	}
	printRevoked(w, revoked)
	return nil
}

// count is n with the noun in the number it takes.
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// badRowsHint says how to go on from bad rows: fix them, or skip them when
// any row is good.
func badRowsHint(bad, good int) string {
	fix := "fix them"
	if bad == 1 {
		fix = "fix it"
	}
	if good == 0 {
		return fix + "; no row is good, so --skip-invalid would write nothing"
	}
	one := "the good one"
	if good > 1 {
		one = "the " + strconv.Itoa(good) + " good ones"
	}
	return fix + ", or give --skip-invalid to write " + one
}

// newProgress draws a bar when w is a terminal and otherwise prints a line
// every tenth of the way, which is what a log file or CI wants.
func newProgress(w io.Writer, total int) (progress func(done, total int), finish func()) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("users"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
		)
		return func(done, _ int) { bar.Set(done) }, func() { bar.Finish() }
	}
	step := max(total/10, 1)
	return func(done, total int) {
		if done%step == 0 || done == total {
			fmt.Fprintf(w, "pushca: bundle: %d/%d users\n", done, total)
		}
	}, func() {}
}
