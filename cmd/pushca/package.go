package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/provision"
	"github.com/pushca/pushca/push/enroll"
)

func packageCommand() *cli.Command {
	return &cli.Command{
		Name:  "package",
		Usage: "build device artefacts: Windows Mobile CAB, iPhone .mobileconfig, Android .crt",
		Subcommands: []*cli.Command{
			packageWMCommand(),
			packageIOSCommand(),
			packageAndroidCommand(),
		},
	}
}

// chainFlags name the certificates to install; by default the state
// directory's root and, per device kind, its chain family's intermediate.
func chainFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "root", Usage: "root certificate, PEM or DER, packaged for every device kind as it is (default: the state directory's root, for the device kinds its chain families serve)"},
		&cli.StringFlag{Name: "intermediate", Usage: "intermediate certificate(s) for the device's CA store (default: the state directory's intermediate of the device's chain family, unless --root is given)"},
	}
}

func signFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "sign-cert", Usage: "code-signing certificate (PEM, may be followed by its issuers)"},
		&cli.StringFlag{Name: "sign-key", Usage: "private key of --sign-cert (PEM, may be encrypted)"},
		&cli.StringFlag{Name: "sign-p12", Usage: "code-signing key and certificate as PKCS#12 (.p12/.pfx)"},
		&cli.StringFlag{Name: "password-file", Usage: "file holding the password of --sign-key or --sign-p12 (first line); without it pushca prompts"},
	}
}

func accountFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "server", Usage: "Exchange server host name, without https:// or path"},
		&cli.StringFlag{Name: "user", Usage: "account user name (the password is never packaged: the device asks)"},
		&cli.StringFlag{Name: "domain", Usage: "Windows domain of --user"},
	}
}

// readChains reads what packages install. By default that is the state
// directory's root and each chain family's intermediate (global --dir; no
// CA password needed), read only once the directory's modes pass
// checkStateModes. --root or --intermediate name certificates pushca
// may not have made, whose family it cannot tell: they are packaged for
// every device kind, and only the Windows Mobile packages warn about what
// those devices would refuse.
func readChains(c *cli.Context) (provision.Chains, error) {
	dir, root, inter := c.String("dir"), c.String("root"), c.String("intermediate")
	if root == "" {
		if err := checkStateModes(stderr(c), dir); err != nil {
			return nil, err
		}
	}
	if root == "" && inter == "" {
		cs, err := enroll.ReadChains(dir)
		if errors.Is(err, ca.ErrNotInitialized) {
			return nil, fmt.Errorf("%w, or give --root", err)
		}
		return cs, err
	}
	flag := "--root"
	if root == "" {
		root, flag = ca.Layout{Dir: dir}.RootCert(), "--dir"
	}
	var inters []string
	if inter != "" {
		inters = []string{inter}
	}
	chain, err := provision.ReadChain(root, inters...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return provision.AnyFamily(chain), nil
}

// chainFor is the chain packages for devices of the named profile install.
// It refuses a device kind none of the CA's chain families serves, saying
// how to add the family, rather than package a root the device would
// install and still not trust the server with.
func chainFor(c *cli.Context, device string) (provision.Chain, error) {
	cs, err := readChains(c)
	if err != nil {
		return provision.Chain{}, err
	}
	chain, err := cs.For(device)
	if err != nil {
		return provision.Chain{}, fmt.Errorf("--dir %s: %s", c.String("dir"), addFamilyHint(c, err))
	}
	return chain, nil
}

// addFamilyHint is err's message, followed by the command adding the
// missing chain families when err is a *provision.FamilyError.
func addFamilyHint(c *cli.Context, err error) string {
	var fe *provision.FamilyError
	if !errors.As(err, &fe) {
		return err.Error()
	}
	cmds := make([]string, len(fe.Families))
	for i, f := range fe.Families {
		cmd := []string{"pushca"}
		if c.IsSet("dir") {
			cmd = append(cmd, "--dir", c.String("dir"))
		}
		cmds[i] = "`" + shellJoin(append(cmd, "ca", "add-family", f)...) + "`"
	}
	it := "it"
	if len(cmds) > 1 {
		it = "them"
	}
	return err.Error() + "; add " + it + " with " + strings.Join(cmds, " and ")
}

// serverName is --server in the form packages carry (see
// provision.ServerName) and the form people read, which differ for an
// international name only.
func serverName(c *cli.Context) (ascii, display string, err error) {
	ascii, display, err = provision.ServerName(c.String("server"))
	if err != nil {
		return "", "", fmt.Errorf("--server: %w", err)
	}
	return ascii, display, nil
}

// readSigner loads the signing material named by the sign flags, or nil
// when none is given.
func readSigner(c *cli.Context) (*provision.Signer, error) {
	cert, key, p12 := c.String("sign-cert"), c.String("sign-key"), c.String("sign-p12")
	pw := signingPassword(c)
	switch {
	case p12 != "" && (cert != "" || key != ""):
		return nil, errors.New("give either --sign-p12 or --sign-cert with --sign-key, not both")
	case p12 != "":
		s, err := provision.LoadSignerPKCS12(p12, pw)
		if err != nil {
			return nil, fmt.Errorf("--sign-p12: %w", err)
		}
		return s, nil
	case cert != "" && key != "":
		s, err := provision.LoadSignerPEM(cert, key, pw)
		if err != nil {
			return nil, fmt.Errorf("--sign-cert/--sign-key: %w", err)
		}
		return s, nil
	case cert != "" || key != "":
		return nil, errors.New("--sign-cert and --sign-key go together")
	}
	return nil, nil
}

// signingPassword reads --password-file or prompts without echo; a
// password is never a flag value.
func signingPassword(c *cli.Context) provision.PasswordFunc {
	return func(msg string) ([]byte, error) { return readPassword(c, msg, false) }
}

// writeArtefact writes a public artefact atomically. out must end in ext,
// so a signed package can never be saved under an unsigned name or back.
func writeArtefact(out, ext string, data []byte) error {
	if !strings.EqualFold(filepath.Ext(out), ext) {
		return fmt.Errorf("--out %s: this package must be named *%s", out, ext)
	}
	if err := atomicfile.WriteFile(out, data, 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// artefactReport is the --json output of every package command.
type artefactReport struct {
	File string `json:"file"`
	serverNames
	Size         int      `json:"size"`
	SHA256       string   `json:"sha256"`
	Signed       bool     `json:"signed"`
	Profile      string   `json:"profile,omitempty"`
	Compression  string   `json:"compression,omitempty"`
	Instructions string   `json:"instructions,omitempty"`
	RootSubject  string   `json:"root_subject,omitempty"`
	RootSHA256   string   `json:"root_sha256,omitempty"`
	RootSHA1     string   `json:"root_sha1,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
}

// serverNames is the account's server in a report: as packaged, and as
// people read it when that differs (an international name).
type serverNames struct {
	Server        string `json:"server,omitempty"`
	ServerUnicode string `json:"server_unicode,omitempty"`
}

func newServerNames(ascii, display string) serverNames {
	if display == ascii {
		display = ""
	}
	return serverNames{Server: ascii, ServerUnicode: display}
}

// print shows both forms of an international name, for the person to
// check against the one they meant; a plain name was typed as it is
// packaged and needs no line.
func (s serverNames) print(w io.Writer) {
	if s.ServerUnicode != "" {
		fmt.Fprintf(w, "server %s (%s)\n", s.Server, s.ServerUnicode)
	}
}

func newReport(file string, data []byte, chain *provision.Chain) artefactReport {
	sum := sha256.Sum256(data)
	r := artefactReport{File: file, Size: len(data), SHA256: hex.EncodeToString(sum[:])}
	if chain != nil {
		r.RootSubject = chain.Root.Subject.String()
		r.RootSHA256 = provision.SHA256(chain.Root).Colon()
		r.RootSHA1 = provision.SHA1(chain.Root).Colon()
	}
	return r
}

// print writes the report as JSON or as lines for people, warnings and
// notes on stderr.
func (r artefactReport) print(c *cli.Context, notes ...string) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, r)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "wrote %s (%d bytes)\n", r.File, r.Size)
	if r.Instructions != "" {
		fmt.Fprintf(w, "wrote %s\n", r.Instructions)
	}
	r.serverNames.print(w)
	if r.RootSHA256 != "" {
		fmt.Fprintf(w, "root %s\n  SHA-256 %s\n  SHA-1   %s\n", r.RootSubject, r.RootSHA256, r.RootSHA1)
	}
	for _, s := range r.Warnings {
		fmt.Fprintln(stderr(c), "pushca: warning:", s)
	}
	for _, n := range notes {
		fmt.Fprintln(stderr(c), "pushca: note:", n)
	}
	return nil
}

func packageWMCommand() *cli.Command {
	flags := append(chainFlags(), accountFlags()...)
	flags = append(flags,
		&cli.StringFlag{Name: "profile", Value: profile.Default, Usage: "Windows Mobile profile: wm5, wm6 or wm65"},
		&cli.StringFlag{Name: "out", Usage: "output file (default pushca-PROFILE.cab, or .cpf when signed)"},
		&cli.BoolFlag{Name: "certs-only", Usage: "only the certificates (no --server/--user needed)"},
		&cli.BoolFlag{Name: "account-only", Usage: "only the Exchange account, no certificates"},
		&cli.BoolFlag{Name: "mszip", Usage: "compress _setup.xml (refused for wm5, which reads only stored CABs)"},
		&cli.BoolFlag{Name: "allow-ssl-option", Usage: "let the user switch SSL off on the device"},
		&cli.StringFlag{Name: "peak-start", Value: "0800", Usage: "start of peak time, HHMM"},
		&cli.StringFlag{Name: "peak-end", Value: "1800", Usage: "end of peak time, HHMM"},
		&cli.StringFlag{Name: "peak-days", Value: "Mon,Tue,Wed,Thr,Fri", Usage: "peak days, from Sun Mon Tue Wed Thr Fri Sat"},
		&cli.IntFlag{Name: "email-age", Value: 2, Usage: "mail age filter, ActiveSync FilterType (0 all, 1 day, 2 three days, 3 week, 4 two weeks, 5 month)"},
		&cli.IntFlag{Name: "calendar-age", Value: 4, Usage: "calendar age filter, ActiveSync FilterType (0 all, 4 two weeks, 5 month, 6 three months, 7 six months)"},
		&cli.StringFlag{Name: "disable", Usage: "content types to leave off, from mail,calendar,contacts,tasks"},
		&cli.IntFlag{Name: "peak-frequency", DefaultText: "not written", Usage: "UNCONFIRMED: Sync CSP PeakFrequency value"},
		&cli.BoolFlag{Name: "save-password", DefaultText: "not written", Usage: "UNCONFIRMED: write SavePassword (=false writes 0)"},
		&cli.BoolFlag{Name: "use-ssl", DefaultText: "not written", Usage: "UNCONFIRMED: write UseSSL (=false writes 0)"},
		&cli.StringFlag{Name: "uri", Usage: "UNCONFIRMED: write URI, e.g. Microsoft-Server-ActiveSync"},
		jsonFlag,
	)
	flags = append(flags, signFlags()...)
	return &cli.Command{
		Name:  "wm",
		Usage: "Windows Mobile provisioning CAB: root and intermediates, Exchange account, or both",
		UsageText: `pushca package wm --server mail.example.com --user jdoe --domain CORP
   pushca package wm --certs-only --profile wm6 --mszip --out corp-root.cab
   pushca package wm --server mail.example.com --user jdoe --sign-p12 signer.p12 --password-file pw.txt`,
		Flags:  flags,
		Action: packageWM,
	}
}

func packageWM(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("package wm takes no arguments, got %q (see --help)", c.Args().Slice())
	}
	prof, err := profile.Get(c.String("profile"))
	if err != nil {
		return fmt.Errorf("--profile: %w", err)
	}
	if !prof.Legacy {
		return fmt.Errorf("--profile %s: Windows Mobile packages need wm5, wm6 or wm65", prof.Name)
	}
	certsOnly, accountOnly := c.Bool("certs-only"), c.Bool("account-only")
	if certsOnly && accountOnly {
		return errors.New("--certs-only and --account-only exclude each other")
	}
	var doc provision.WMDocument
	if !accountOnly {
		chain, err := chainFor(c, prof.Name)
		if err != nil {
			return err
		}
		doc.Chain = &chain
	}
	var server, display string
	if !certsOnly {
		if c.String("server") == "" || c.String("user") == "" {
			return errors.New("--server and --user are required (or --certs-only)")
		}
		if server, display, err = serverName(c); err != nil {
			return err
		}
		doc.Account = &provision.Account{Server: server, User: c.String("user"), Domain: c.String("domain")}
		if doc.Sync, err = syncOptions(c, prof); err != nil {
			return err
		}
	}
	signer, err := readSigner(c)
	if err != nil {
		return err
	}
	pkg, err := doc.Package(provision.CABOptions{Profile: prof, MSZIP: c.Bool("mszip"), Signer: signer})
	if err != nil {
		return err
	}
	out := c.String("out")
	if out == "" {
		out = "pushca-" + prof.Name + pkg.Ext
	}
	if err := writeArtefact(out, pkg.Ext, pkg.Data); err != nil {
		return err
	}
	r := newReport(out, pkg.Data, doc.Chain)
	r.Signed, r.Profile, r.Warnings = signer != nil, prof.Name, pkg.Warnings
	r.serverNames = newServerNames(server, display)
	r.Compression = "none"
	if c.Bool("mszip") {
		r.Compression = "mszip"
	}
	note := "unsigned: Pocket PCs install it; phone editions and locked devices usually refuse unsigned provisioning"
	if signer != nil {
		note = "signed: this helps only if the signer's chain ends in a certificate already in the device's SPC store"
	}
	return r.print(c, note)
}

// syncOptions starts from the documented defaults and applies the flags;
// unconfirmed parms are written only when their flag is given.
func syncOptions(c *cli.Context, prof profile.Profile) (provision.SyncOptions, error) {
	o, err := provision.DefaultSyncOptions(prof)
	if err != nil {
		return o, err
	}
	o.AllowSSLOption = c.Bool("allow-ssl-option")
	o.PeakStart, o.PeakEnd = c.String("peak-start"), c.String("peak-end")
	if o.PeakDays, err = peakDays(c.String("peak-days")); err != nil {
		return o, err
	}
	o.EmailAgeFilter, o.CalendarAgeFilter = c.Int("email-age"), c.Int("calendar-age")
	if d := c.String("disable"); d != "" {
		for _, t := range strings.Split(d, ",") {
			switch strings.ToLower(strings.TrimSpace(t)) {
			case "mail":
				o.Mail = false
			case "calendar":
				o.Calendar = false
			case "contacts":
				o.Contacts = false
			case "tasks":
				o.Tasks = false
			default:
				return o, fmt.Errorf("--disable %q: not one of mail, calendar, contacts, tasks", t)
			}
		}
	}
	if c.IsSet("peak-frequency") {
		v := c.Int("peak-frequency")
		o.PeakFrequency = &v
	}
	if c.IsSet("save-password") {
		v := c.Bool("save-password")
		o.SavePassword = &v
	}
	if c.IsSet("use-ssl") {
		v := c.Bool("use-ssl")
		o.UseSSL = &v
	}
	o.URI = c.String("uri")
	return o, nil
}

// peakDays parses "Mon,Tue" into the Sync CSP's week; "Thu" is taken for
// the CSP's "Thr", since people type the former.
func peakDays(s string) ([7]bool, error) {
	var days [7]bool
	if strings.TrimSpace(s) == "" {
		return days, nil
	}
	names := []string{"sun", "mon", "tue", "wed", "thr", "fri", "sat"}
next:
	for _, d := range strings.Split(s, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "thu" {
			d = "thr"
		}
		for i, n := range names {
			if d == n {
				days[i] = true
				continue next
			}
		}
		return days, fmt.Errorf("--peak-days %q: not one of Sun Mon Tue Wed Thr Fri Sat", d)
	}
	return days, nil
}

func packageIOSCommand() *cli.Command {
	flags := append(chainFlags(), accountFlags()...)
	flags = append(flags,
		&cli.StringFlag{Name: "email", Usage: "e-mail address (iOS asks when absent)"},
		&cli.StringFlag{Name: "display-name", Usage: "profile name shown on the install screen"},
		&cli.StringFlag{Name: "organization", Usage: "organisation shown on the install screen"},
		&cli.BoolFlag{Name: "root-only", Usage: "only the root certificate, no account"},
		&cli.StringFlag{Name: "out", Value: "pushca.mobileconfig", Usage: "output file"},
		jsonFlag,
	)
	flags = append(flags, signFlags()...)
	return &cli.Command{
		Name:  "ios",
		Usage: "iPhone/iPad configuration profile: root certificate and Exchange account (never a password)",
		UsageText: `pushca package ios --server mail.example.com --user jdoe --email jdoe@example.com
   pushca package ios --root-only --out corp-root.mobileconfig
   pushca package ios --server mail.example.com --user jdoe --sign-cert signer.pem --sign-key signer.key`,
		Flags:  flags,
		Action: packageIOS,
	}
}

func packageIOS(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("package ios takes no arguments, got %q (see --help)", c.Args().Slice())
	}
	chain, err := chainFor(c, "ios")
	if err != nil {
		return err
	}
	m := provision.Mobileconfig{Chain: chain, DisplayName: c.String("display-name"), Organization: c.String("organization")}
	var server, display string
	switch {
	case c.Bool("root-only"):
		if c.IsSet("server") || c.IsSet("user") || c.IsSet("email") {
			return errors.New("--root-only takes no --server, --user or --email")
		}
	case c.String("server") == "" || c.String("user") == "":
		return errors.New("--server and --user are required (or --root-only)")
	default:
		if server, display, err = serverName(c); err != nil {
			return err
		}
		m.Account = &provision.Account{Server: server, User: c.String("user"), Domain: c.String("domain"), Email: c.String("email")}
	}
	signer, err := readSigner(c)
	if err != nil {
		return err
	}
	data, err := m.Plist()
	if err != nil {
		return err
	}
	ios, err := profile.Get("ios")
	if err != nil {
		return err
	}
	note := "unsigned: iOS shows the profile as \"Not Verified\"; give --sign-cert/--sign-key or --sign-p12 to sign it"
	if signer != nil {
		if data, err = provision.SignMobileconfig(data, signer, provision.SignatureHash(ios)); err != nil {
			return err
		}
		note = "signed: iOS shows \"Verified\" only when it trusts the signer's chain"
	}
	out := c.String("out")
	if err := writeArtefact(out, ".mobileconfig", data); err != nil {
		return err
	}
	r := newReport(out, data, &chain)
	r.Signed, r.Profile = signer != nil, ios.Name
	r.serverNames = newServerNames(server, display)
	return r.print(c, note)
}

func packageAndroidCommand() *cli.Command {
	return &cli.Command{
		Name:  "android",
		Usage: "Android root certificate (.crt, DER) with installation instructions (.txt beside it)",
		UsageText: `pushca package android
   pushca package android --root corp-root.pem --out corp-root.crt --json`,
		Flags: append(chainFlags(),
			&cli.StringFlag{Name: "out", Value: "pushca-root.crt", Usage: "output file; the instructions go to the same name with .txt"},
			jsonFlag,
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("package android takes no arguments, got %q (see --help)", c.Args().Slice())
			}
			chain, err := chainFor(c, "android")
			if err != nil {
				return err
			}
			// Android installs only the root; intermediates come from the server.
			chain.Intermediates = nil
			out := c.String("out")
			pkg, err := provision.Android(chain, filepath.Base(out))
			if err != nil {
				return err
			}
			if err := writeArtefact(out, ".crt", pkg.CRT); err != nil {
				return err
			}
			txt := strings.TrimSuffix(out, filepath.Ext(out)) + ".txt"
			if err := atomicfile.WriteFile(txt, pkg.Instructions, 0o644); err != nil {
				return err
			}
			r := newReport(out, pkg.CRT, &chain)
			r.Instructions = txt
			return r.print(c)
		},
	}
}
