package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/export"
)

func certExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write HOST's certificates and keys for IIS/Exchange (PFX), nginx, Apache or HAProxy (no CA password needed)",
		ArgsUsage: "HOST",
		UsageText: `pushca cert export mail.example.com --format pfx-legacy --password-file pfx.pw --out /srv/exchange
   pushca cert export mail.example.com --format nginx --out /etc/nginx/pushca
   pushca cert export mail.example.com --format apache --out /etc/apache2/pushca
   pushca cert export mail.example.com --format haproxy --out /etc/haproxy/pushca
   pushca cert export mail.example.com --format pem --family legacy --json`,
		Description: `Formats (one file per chain family unless said otherwise):
  pfx-legacy  PKCS#12, TripleDES-SHA1 with a SHA-1 MAC: Windows Server 2003-2016,
              Exchange 2003-2016 (an AES file fails there with "wrong password")
  pfx         PKCS#12, AES-256 with PBKDF2-SHA256: Windows Server 2019 and later
  pem         root_ca.crt, and HOST.FAMILY.cert.pem, .chain.pem, .key.pem
  nginx       HOST.FAMILY.chain.pem and .key.pem, and HOST.nginx.conf to include in
              the server block
  apache      the same files, and HOST.apache.conf to include in the VirtualHost
  haproxy     HOST.FAMILY.haproxy.pem (chain and key), HOST.crt-list for
              "bind ... ssl crt-list", HOST.haproxy.cfg with the global settings,
              and with a legacy family HOST.openssl.cnf, for OPENSSL_CONF: HAProxy
              loads certificates before its cipher settings lower OpenSSL's level

The server configurations offer every chain family side by side (the server
picks by key type) and only the TLS versions and suites the families' devices
need: TLS 1.0, RSA key-exchange suites and @SECLEVEL=0 only with a legacy family.
The paths in them are those of --out. One IIS binding serves one certificate:
import the PFX of the family its devices need.

The PFX password comes from --password-file or a no-echo prompt, never a flag
value. Keys are written unencrypted except in a PFX; every file is 0600, --out
0700. Files of the same names are replaced, so a deploy hook can re-export after
each renewal: pushca cert renew HOST --exec 'pushca cert export "$PUSHCA_HOST" --format nginx --out /etc/nginx/pushca && systemctl reload nginx'`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Required: true, Usage: export.FormatNames()},
			&cli.StringFlag{Name: "out", Usage: "directory to write to (default: ./HOST)"},
			familyFlag(),
			// Not the CA password: its own flag and variable, so that
			// PUSHCA_PASSWORD_FILE never becomes a PFX password unasked.
			&cli.StringFlag{Name: "password-file", EnvVars: []string{"PUSHCA_EXPORT_PASSWORD_FILE"}, Usage: "file holding the PFX password (first line); without it pushca prompts"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("cert export needs exactly one HOST argument (see --help)")
			}
			f, err := export.ParseFormat(c.String("format"))
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			host := c.Args().First()
			opt := export.Options{Format: f, Out: c.String("out")}
			if opt.Out == "" {
				opt.Out = host
			}
			h, err := export.Read(c.Context, c.String("dir"), host, c.StringSlice("family")...)
			if err != nil {
				return err
			}
			if f.NeedsPassword() {
				if opt.Password, err = readPassword(c, "PFX password", true); err != nil {
					return err
				}
			}
			files, err := export.Write(c.Context, h, opt)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, files)
			}
			for _, file := range files {
				fmt.Fprintf(c.App.Writer, "wrote %-8s %s\n", file.Kind, file.Path)
			}
			return nil
		},
	}
}
