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
	"github.com/pushca/pushca/push"
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
   pushca verify https://mail.example.com --connect 10.0.0.5:443 --root root.pem --user alice --password-file alice.pw --ladder
   pushca verify https://mail.example.com --root root.pem --user alice --password-file alice.pw --ladder-steps 60,300,900 --json
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

Against pushca serve, pushca --dir D verify (or --admin-token-file) lets verify deliver a test
message through the loopback admin API (--admin) and report the push latency.

--ladder holds Pings at 480 s, then 300 s more each time up to 1680 s (about
90 minutes), to find how long the network path keeps an idle connection;
--ladder-steps gives the rungs in seconds instead.

Exit status: 0 every check passed, 2 some checks warned and none failed,
3 a check failed, 1 verify could not run (bad arguments).`,
		Flags: append(adminFlags(),
			&cli.StringFlag{Name: "root", Usage: "root certificate(s) installed on the devices, PEM or DER (default: the system roots)"},
			&cli.StringFlag{Name: "profile", Value: profile.Default, Usage: "device emulated (" + strings.Join(profile.Names(), ", ") + ")"},
			&cli.StringFlag{Name: "user", Usage: "account to log in with: DOMAIN\\user, user@domain or user (without it only TLS is checked)"},
			&cli.StringFlag{Name: "password-file", EnvVars: []string{"PUSHCA_VERIFY_PASSWORD_FILE"}, Usage: "file holding the user's password (first line); without it pushca prompts"},
			&cli.IntFlag{Name: "heartbeat", Value: int(verify.DefaultHeartbeat / time.Second), Usage: "heartbeat of the Ping, seconds"},
			&cli.BoolFlag{Name: "ladder", Usage: "run the heartbeat ladder (480 s to 1680 s in 300 s steps)"},
			&cli.IntSliceFlag{Name: "ladder-steps", Usage: "rungs of the ladder in seconds, e.g. 60,300,900 (implies --ladder)"},
			&cli.StringFlag{Name: "connect", Usage: "HOST:PORT to dial instead of the URL's; the certificate is still checked against the URL's host"},
			jsonFlag,
		),
		Action: func(c *cli.Context) error {
			opt, err := verifyOptions(c)
			if err != nil {
				return err
			}
			r, err := verify.Run(c.Context, opt)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				err = printJSON(c.App.Writer, r)
			} else {
				err = r.WriteText(c.App.Writer)
			}
			if err != nil {
				return err
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
	user, err := push.NormalizeUser(login)
	if err != nil {
		return verify.Options{}, fmt.Errorf("--user: %w", err)
	}
	pw, err := readPassword(c, "password for "+login, false)
	if err != nil {
		return verify.Options{}, err
	}
	opt.Login, opt.Password = login, string(pw)
	// Delivery is asked for explicitly: a default --dir left over on a
	// machine must not make a check of a real Exchange server call an
	// admin API that is not there.
	if c.IsSet("dir") || c.IsSet("admin-token-file") {
		deliver, err := adminDeliverer(c)
		if err != nil {
			return verify.Options{}, fmt.Errorf("push measurement: %w", err)
		}
		opt.Deliver = func(ctx context.Context) (int, error) {
			res, err := deliver(ctx, push.DeliverRequest{User: user, Subject: "pushca verify test message"})
			return res.Woken, err
		}
	}
	return opt, nil
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
