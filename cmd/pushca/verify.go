package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/provision"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/state"
	"github.com/pushca/pushca/verify"
)

// Exit codes of verify, for cron and monitoring.
const (
	verifyExitWarn = 2
	verifyExitFail = 3
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check an ActiveSync server the way a device would: TLS chain, command flow, Ping, push latency, heartbeat ladder",
		ArgsUsage: "https://HOST[:PORT]",
		UsageText: `pushca verify https://mail.example.com --root root.pem --profile wm6
   pushca verify https://mail.example.com --root root.pem --user 'CORP\alice' --password-file alice.pw
   pushca --dir pushca-data verify https://mail.test:8443 --root pushca-data/certs/root_ca.crt --user alice --password-file alice.pw --heartbeat 5
   pushca verify https://mail.test:8443 --root root.pem --user alice --password-file alice.pw --push-via-admin --admin-token-file admin.token
   pushca verify https://mail.example.com --connect 10.0.0.5:443 --root root.pem --user alice --password-file alice.pw --ladder
   pushca verify https://mail.example.com --root root.pem --user alice --password-file alice.pw --ladder-steps 60,300,900 --json
   pushca verify --autodiscover alice@example.com --root root.pem --password-file alice.pw --resolve autodiscover.example.com:443:10.0.0.5
   for p in wm5 wm6 ios android; do pushca verify https://mail.example.com --root root.pem --profile $p || echo "$p: FAILED"; done`,
		Description: `--profile sends the ClientHello that profile's devices send (Windows Mobile: TLS 1.0
only, their RSA key-exchange suites, no signature_algorithms; current clients: TLS 1.2
to 1.3 offering ECDSA) and checks, by that profile's rules, the chain the server
presents to that hello. A server that picks a chain per hello, as pushca serve does
for a CA with several chain families, is checked one profile per run; the report
names the chain family it presented (legacy, modern, modern-rsa).

Without --root the system roots are trusted, as on a device that trusts public CAs.
Without --user only TLS is checked; with it, verify runs OPTIONS, Provision,
FolderSync, GetItemEstimate, Sync and a Ping of --heartbeat seconds. No password
is sent to a server whose certificate the device would refuse. The password
comes from --password-file, PUSHCA_VERIFY_PASSWORD_FILE or a no-echo prompt.

The first commands carry X-MS-PolicyKey 0, as a device's do, so a server that
enforces provisioning asks for it (HTTP 449 or Status 142) and verify provisions in
both phases; a server that never asks gets a warning.

The push latency is measured by delivering a test message through the admin API of
pushca serve (--admin, loopback), with the token from --admin-token-file or from
push/admin.token in --dir. That happens against a server that names itself pushca
serve when the token is there, or whenever --push-via-admin asks for it; never
against another server because a state directory happens to exist.

Ctrl-C or SIGTERM stops verify: it prints the checks that finished, says
"interrupted" and exits 1.

--ladder holds Pings at 480 s, then 300 s more each time up to 1680 s (about
90 minutes), to find how long the network path keeps an idle connection;
--ladder-steps gives the rungs in seconds instead.

Exit status: 0 every check passed, 2 some checks warned and none failed,
3 a check failed, 1 verify could not run (bad arguments) or was interrupted.`,
		Flags: append(append(adminFlags(), autodiscoverFlags()...),
			&cli.StringFlag{Name: "root", Usage: "root certificate(s) installed on the devices, PEM or DER (default: the system roots)"},
			&cli.StringFlag{Name: "profile", Value: profile.Default, Usage: "device emulated (" + strings.Join(profile.Names(), ", ") + ")"},
			&cli.StringFlag{Name: "user", Usage: "account to log in with: DOMAIN\\user, user@domain or user (without it only TLS is checked)"},
			&cli.StringFlag{Name: "password-file", EnvVars: []string{"PUSHCA_VERIFY_PASSWORD_FILE"}, Usage: "file holding the user's password (first line); without it pushca prompts"},
			&cli.IntFlag{Name: "heartbeat", Value: int(verify.DefaultHeartbeat / time.Second), Usage: "heartbeat of the Ping, seconds"},
			&cli.BoolFlag{Name: "ladder", Usage: "run the heartbeat ladder (480 s to 1680 s in 300 s steps)"},
			&cli.IntSliceFlag{Name: "ladder-steps", Usage: "rungs of the ladder in seconds, e.g. 60,300,900 (implies --ladder)"},
			&cli.StringFlag{Name: "connect", Usage: "HOST:PORT to dial instead of the URL's; the certificate is still checked against the URL's host"},
			&cli.BoolFlag{Name: "push-via-admin", Usage: "measure push latency through pushca serve's admin API even if the server does not name itself pushca serve (needs its admin token)"},
			jsonFlag,
		),
		Action: func(c *cli.Context) error {
			if c.IsSet("autodiscover") || c.IsSet("resolve") {
				return verifyAutodiscover(c)
			}
			opt, err := verifyOptions(c)
			if err != nil {
				return err
			}
			r, err := verify.Run(c.Context, opt)
			if err != nil && !errors.Is(err, verify.ErrInterrupted) {
				return err
			}
			if werr := writeReport(c, r); werr != nil {
				return werr
			}
			if err != nil {
				// Not a verdict on the server: exit 1, as for any failure to run.
				return fmt.Errorf("verify %s: %w", r.URL, err)
			}
			return verifyExit(r)
		},
	}
}

func verifyOptions(c *cli.Context) (verify.Options, error) {
	if c.NArg() != 1 {
		return verify.Options{}, errors.New("verify needs exactly one server URL, https://HOST[:PORT] (see --help)")
	}
	p, err := profile.Get(c.String("profile"))
	if err != nil {
		return verify.Options{}, fmt.Errorf("--profile: %w", err)
	}
	opt := verify.Options{
		URL: c.Args().First(), Connect: c.String("connect"), Profile: p,
		Heartbeat: time.Duration(c.Int("heartbeat")) * time.Second,
		Log:       logger(c),
	}
	if f := c.String("root"); f != "" {
		if opt.Roots, err = provision.ReadCertificates(f); err != nil {
			return verify.Options{}, fmt.Errorf("--root: %w", err)
		}
	}
	if steps := c.IntSlice("ladder-steps"); len(steps) > 0 {
		for _, s := range steps {
			opt.Ladder = append(opt.Ladder, time.Duration(s)*time.Second)
		}
	} else if c.Bool("ladder") {
		opt.Ladder = verify.DefaultLadder()
	}
	login := c.String("user")
	if login == "" {
		if c.IsSet("password-file") || len(opt.Ladder) > 0 {
			return verify.Options{}, errors.New("--password-file and --ladder need --user: without an account only TLS is checked")
		}
		return opt, nil
	}
	user, err := state.NormalizeUser(login)
	if err != nil {
		return verify.Options{}, fmt.Errorf("--user: %w", err)
	}
	pw, err := readPassword(c, "password for "+login, false)
	if err != nil {
		return verify.Options{}, err
	}
	opt.Login, opt.Password = login, string(pw)
	deliver, err := adminDeliverer(c)
	switch {
	case err == nil:
		opt.Deliver = func(ctx context.Context) (int, error) {
			res, err := deliver(ctx, ops.DeliverRequest{User: user, Subject: "pushca verify test message"})
			return res.Woken, err
		}
		opt.MeasurePush = c.Bool("push-via-admin")
	case c.Bool("push-via-admin") || c.IsSet("admin-token-file"):
		return verify.Options{}, fmt.Errorf("push measurement: %w", err)
	default:
		// No token in --dir: the measurement is for pushca serve on this
		// machine, and verify runs without it against any other server.
		opt.Log.Debug("no admin token: push latency is not measured", "err", err)
	}
	return opt, nil
}

func writeReport(c *cli.Context, r *verify.Report) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, r)
	}
	return r.WriteText(c.App.Writer)
}

// verifyExit turns the verdict into the exit status, naming on stderr the
// checks that did not pass so a cron mail says what broke.
func verifyExit(r *verify.Report) error {
	failed := r.Failed()
	if len(failed) == 0 {
		return nil
	}
	var names []string
	for _, ch := range failed {
		names = append(names, fmt.Sprintf("%s (%s: %s)", ch.Name, ch.Verdict, ch.Detail))
	}
	code := verifyExitFail
	if r.Verdict() == verify.Warn {
		code = verifyExitWarn
	}
	return exitf(code, "verify %s: %d check(s) did not pass: %s", r.URL, len(failed), strings.Join(names, "; "))
}
