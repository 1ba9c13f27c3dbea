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
	"github.com/pushca/pushca/push"
)

func bundleCommand() *cli.Command {
	flags := append(chainFlags(),
		&cli.StringFlag{Name: "users", Usage: "CSV of users with a header row (see the columns below)", Required: true},
		&cli.StringFlag{Name: "server", Usage: "Exchange server host name, without https:// or path", Required: true},
		&cli.StringFlag{Name: "domain", Usage: "Windows domain of users whose row names none"},
		&cli.StringSliceFlag{Name: "profile", Aliases: []string{"devices"}, Value: cli.NewStringSlice("wm6", "ios", "android"),
			Usage: "device kinds of users whose row names none: wm5, wm6, wm65, ios, android"},
		&cli.StringFlag{Name: "out", Usage: "output directory (created 0700 when missing)", Required: true},
		&cli.BoolFlag{Name: "zip", Usage: "one users/NAME.zip per person, holding the shared root files too, instead of a folder"},
		&cli.BoolFlag{Name: "combined", Usage: "put the certificates into each account CAB instead of a shared root CAB"},
		&cli.BoolFlag{Name: "mszip", Usage: "compress the CABs (refused when a user has a wm5 device)"},
		&cli.BoolFlag{Name: "skip-invalid", Usage: "write the good rows and list the bad ones, instead of writing nothing"},
		&cli.StringFlag{Name: "base-url", Usage: "public address of pushca serve --http (http://enroll.example.com): each sheet gets a QR code of the user's own page there, an unguessable link stored in --dir"},
		&cli.DurationFlag{Name: "link-ttl", Value: 14 * 24 * time.Hour, Usage: "how long a new --base-url link works; a user's unexpired link is kept as it is"},
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

   Columns of --users (UTF-8, with or without BOM, CRLF or LF; names are matched
   without regard to case, spaces, '-' or '_'):
` + cols.String() + `
   Every bad row is reported with its line; nothing is written unless all rows are
   good or --skip-invalid is given. A row is bad too when one of its device kinds
   needs a chain family the CA lacks (pushca ca add-family adds it). Re-running with the same inputs rewrites nothing;
   a run stopped midway is completed by running it again.`,
		Flags:  flags,
		Action: bundle,
	}
}

// bundleReport is the --json output of bundle.
type bundleReport struct {
	Out        string               `json:"out"`
	Manifest   string               `json:"manifest"`
	Users      int                  `json:"users"`
	Files      int                  `json:"files"`
	Bytes      int64                `json:"bytes"`
	Skipped    []provision.RowError `json:"skipped,omitempty"`
	RootSHA256 string               `json:"root_sha256"`
	RootSHA1   string               `json:"root_sha1"`
}

func bundle(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("bundle takes no arguments, got %q (see --help)", c.Args().Slice())
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
		Chains: chains, Server: c.String("server"), Domain: c.String("domain"), Devices: devices,
		MSZIP: c.Bool("mszip"), Combined: c.Bool("combined"), Zip: c.Bool("zip"), Version: c.App.Version,
		// Only what decides the bytes: the same inputs give the same manifest.
		Inputs: map[string]string{
			"users_csv":        filepath.Base(usersFile),
			"users_csv_sha256": hex.EncodeToString(sum[:]),
			"server":           c.String("server"),
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
		return fmt.Errorf("--users %s: %d bad rows, nothing written (fix them, or give --skip-invalid to write the %d good ones)", usersFile, len(bad), len(users))
	case len(users) == 0:
		return fmt.Errorf("--users %s: no users to bundle", usersFile)
	}
	// The signing password is asked only for a bundle that will be written.
	if b.Signer, err = readSigner(c); err != nil {
		return err
	}
	b.Inputs["signed"] = strconv.FormatBool(b.Signer != nil)
	if base := c.String("base-url"); base != "" {
		b.Inputs["base_url"] = base
		if b.URL, err = issueLinks(c, b, users); err != nil {
			return err
		}
	}
	progress, finish := newProgress(stderr(c), len(users))
	b.Progress = progress
	m, err := b.Write(c.Context, c.String("out"), users, bad)
	finish()
	if err != nil {
		return err
	}
	r := bundleReport{
		Out: c.String("out"), Manifest: filepath.Join(c.String("out"), provision.ManifestName),
		Users: m.Users, Files: len(m.Files), Skipped: bad, RootSHA256: m.Root.SHA256, RootSHA1: m.Root.SHA1,
	}
	for _, f := range m.Files {
		r.Bytes += int64(f.Size)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, r)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "wrote %d users, %d files (%d bytes) under %s\nmanifest %s\n", r.Users, r.Files, r.Bytes, r.Out, r.Manifest)
	fmt.Fprintf(w, "root %s\n  SHA-256 %s\n  SHA-1   %s\n", m.Root.Subject, r.RootSHA256, r.RootSHA1)
	if len(bad) > 0 {
		fmt.Fprintf(w, "skipped %d bad rows (listed above and in the manifest)\n", len(bad))
	}
	return nil
}

// issueLinks gives every user a page on the enrollment site before any
// sheet is written, so a run stopped midway and run again prints the same
// links.
func issueLinks(c *cli.Context, b provision.Bundle, users []provision.User) (func(provision.User) (string, time.Time, error), error) {
	want := make([]push.Link, len(users))
	for i, u := range users {
		devices := u.Devices
		if len(devices) == 0 {
			devices = b.Devices
		}
		domain := u.Domain
		if domain == "" {
			domain = b.Domain
		}
		want[i] = push.Link{Server: b.Server, User: u.Name, Domain: domain, Email: u.Email, DisplayName: u.DisplayName, Devices: devices}
	}
	links, err := push.IssueLinks(push.LinksPath(c.String("dir")), c.String("base-url"), c.Duration("link-ttl"), time.Now(), want)
	if err != nil {
		return nil, fmt.Errorf("--base-url: %w", err)
	}
	byUser := make(map[string]push.Link, len(links))
	for _, l := range links {
		byUser[l.User] = l
	}
	return func(u provision.User) (string, time.Time, error) {
		l := byUser[u.Name]
		return l.URL, l.Expires, nil
	}, nil
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
