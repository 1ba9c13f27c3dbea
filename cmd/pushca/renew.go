package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/renew"
	"github.com/pushca/pushca/push"
)

// autoRenewFlags are serve's renewal flags.
func autoRenewFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "auto-renew", Usage: "renew the --host certificate through the CA as it ages, and regenerate the CRL at half its lifetime (needs the CA password)"},
		&cli.StringFlag{Name: "renew-at", Value: "2/3", Usage: "with --auto-renew: fraction of the lifetime after which to renew (2/3, 0.75)"},
		passwordFileFlag(),
	}
}

// autoRenew sets cfg up to renew the --host certificate when --auto-renew
// is given. It reads the CA password once and checks it by opening the CA,
// so that a wrong password stops serve now rather than at the first renewal
// months later.
func autoRenew(c *cli.Context, cfg *push.Config) error {
	if !c.Bool("auto-renew") {
		return nil
	}
	if cfg.Host == "" || len(cfg.Pairs) > 0 {
		return errors.New("--auto-renew renews the certificate of --host in the state directory; it cannot renew --cert/--key files")
	}
	at, err := renew.ParseFraction(c.String("renew-at"))
	if err != nil {
		return fmt.Errorf("--renew-at: %w", err)
	}
	pw, err := caPassword(c, false)
	if err != nil {
		return fmt.Errorf("--auto-renew: %w", err)
	}
	authority, err := ca.Open(c.Context, cfg.Dir, pw)
	if err != nil {
		return fmt.Errorf("--auto-renew: %w", err)
	}
	authority.Close()
	cfg.AutoRenew = &push.AutoRenew{At: at, Renew: push.RenewWithCA(cfg.Dir, cfg.Host, pw, cfg.Log), CRL: push.CRLWithCA(cfg.Dir, pw, cfg.Log)}
	return nil
}
