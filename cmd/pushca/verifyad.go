package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/provision"
	"github.com/pushca/pushca/verify"
)

// autodiscoverFlags are verify's flags for finding the server as a device
// does.
func autodiscoverFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "autodiscover", Usage: "find the server of this e-mail address as a device does (https://DOMAIN/, https://autodiscover.DOMAIN/, the redirect on http://autodiscover.DOMAIN/, SRV _autodiscover._tcp.DOMAIN), report each step, then check the server found; give no URL"},
		&cli.StringSliceFlag{Name: "resolve", Usage: "with --autodiscover, HOST:PORT:ADDR sends connections for HOST:PORT to ADDR, as curl's --resolve; ADDR may carry its own port (127.0.0.1:8443) for servers on loopback"},
	}
}

// verifyAutodiscover is verify --autodiscover EMAIL: the login defaults to
// the address, as on a device.
func verifyAutodiscover(c *cli.Context) error {
	email := c.String("autodiscover")
	switch {
	case email == "":
		return usageErrorf("--resolve goes with --autodiscover EMAIL (to reach a server at an address of your choosing, use --connect)")
	case c.NArg() > 0:
		return usageErrorf("--autodiscover finds the server's URL: give no URL (got %q)", c.Args().First())
	}
	resolve, err := verify.ParseResolve(c.StringSlice("resolve"))
	if err != nil {
		return usageErrorf("%v", err)
	}
	p, err := profile.Get(c.String("profile"))
	if err != nil {
		return fmt.Errorf("--profile: %w", err)
	}
	opt := verify.Options{Profile: p, Heartbeat: time.Duration(c.Int("heartbeat")) * time.Second, Log: logger(c)}
	if f := c.String("root"); f != "" {
		if opt.Roots, err = provision.ReadCertificates(f); err != nil {
			return fmt.Errorf("--root: %w", err)
		}
	}
	if steps := c.IntSlice("ladder-steps"); len(steps) > 0 {
		for _, s := range steps {
			opt.Ladder = append(opt.Ladder, time.Duration(s)*time.Second)
		}
	} else if c.Bool("ladder") {
		opt.Ladder = verify.DefaultLadder()
	}
	opt.Login = c.String("user")
	if opt.Login == "" {
		opt.Login = email
	}
	pw, err := readPassword(c, "password for "+opt.Login, false)
	if err != nil {
		return err
	}
	opt.Password = string(pw)
	r, err := verify.RunAutodiscover(c.Context, email, opt, verify.Discovery{Resolve: resolve})
	if err != nil && !errors.Is(err, verify.ErrInterrupted) {
		return err
	}
	if werr := writeReport(c, r); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("verify --autodiscover %s: %w", email, err)
	}
	return verifyExit(r)
}
