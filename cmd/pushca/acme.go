package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/acmesrv"
	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/profile"
)

func acmeCommand() *cli.Command {
	return &cli.Command{
		Name:  "acme",
		Usage: "ACME (RFC 8555) on the private CA, one directory per chain family",
		Subcommands: []*cli.Command{{
			Name:  "serve",
			Usage: "serve ACME at https://HOST:PORT/acme/FAMILY/directory until interrupted",
			UsageText: `pushca acme serve --host ca.example.com --listen :8446
   PUSHCA_PASSWORD_FILE=/root/ca.pw pushca acme serve --host ca.example.com --listen :8446
   certbot certonly --standalone --server https://ca.example.com:8446/acme/legacy/directory -d mail.example.com

   Each chain family has its own ACME provisioner, named after it, which signs
   with that family's intermediate and leaf template: a legacy order gets a
   SHA-1 RSA-2048 leaf, and an ECDSA key or a wildcard where the family's
   devices refuse it is an ACME error (badCSR, rejectedIdentifier). Challenges:
   http-01 (port 80 of the name) and tls-alpn-01 (port 443). Certificates
   appear in 'pushca cert list' with source acme; accounts and orders live in
   the CA's database. The listener's own certificate is the host's from the
   first family that is not legacy (ACME clients refuse SHA-1), issued now
   unless servers/HOST/ has one.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "host", Required: true, Usage: "name the ACME clients reach this server by (its TLS certificate's)"},
				&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8446", Usage: "address of the ACME TLS listener"},
				&cli.IntFlag{Name: "http-01-port", Usage: "port that validates http-01 challenges instead of 80 (a client behind a port forward; certbot --http-01-port)"},
				&cli.IntFlag{Name: "tls-alpn-01-port", Usage: "port that validates tls-alpn-01 challenges instead of 443"},
				passwordFileFlag(),
			},
			Action: withCA(acmeServe),
		}},
	}
}

func acmeServe(c *cli.Context, authority *ca.CA) error {
	if c.NArg() > 0 {
		return fmt.Errorf("acme serve takes no arguments, got %q (see --help)", c.Args().First())
	}
	for _, f := range []string{"http-01-port", "tls-alpn-01-port"} {
		if p := c.Int(f); p < 0 || p > 65535 {
			return fmt.Errorf("--%s %d: give a port from 1 to 65535", f, p)
		}
	}
	host := c.String("host")
	cert, err := acmeServerCert(c.Context, authority, host)
	if err != nil {
		return err
	}
	opts := acmesrv.Options{Log: logger(c)}
	if c.Int("http-01-port") != 0 || c.Int("tls-alpn-01-port") != 0 {
		opts.Dial = acmesrv.PortDialer(c.Int("http-01-port"), c.Int("tls-alpn-01-port"))
	}
	h, err := acmesrv.New(authority, opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("ACME listener: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, f := range authority.Families() {
		fmt.Fprintf(c.App.Writer, "ACME %s: https://%s%s/%s/directory\n", f.Name, net.JoinHostPort(host, port), acmesrv.Prefix, f.Name)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return fmt.Errorf("ACME listener: %w", err)
	case <-c.Context.Done():
	}
	// An order being validated or signed is let finish; the CA closes after.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// acmeServerCert is host's certificate of the CA's first family that ACME
// clients accept, issued when servers/HOST/ has none.
func acmeServerCert(ctx context.Context, authority *ca.CA, host string) (tls.Certificate, error) {
	for _, s := range authority.Slots() {
		f, err := profile.GetFamily(s.Family)
		if err != nil {
			return tls.Certificate{}, err
		}
		if f.Legacy {
			continue
		}
		l := authority.Layout()
		cert, err := tls.LoadX509KeyPair(l.ServerChain(host, s), l.ServerKey(host, s))
		if !errors.Is(err, fs.ErrNotExist) {
			if err != nil {
				return cert, fmt.Errorf("ACME server certificate for %s: %w", host, err)
			}
			return cert, nil
		}
		is, err := authority.Issue(ctx, ca.IssueRequest{Host: host, Families: []string{s.Family}})
		if err != nil {
			return cert, fmt.Errorf("ACME server certificate for %s: %w", host, err)
		}
		return tls.LoadX509KeyPair(is[0].ChainFile, is[0].KeyFile)
	}
	return tls.Certificate{}, errors.New("ACME clients refuse SHA-1 certificates, and this CA has only the legacy chain family: add one (`pushca ca add-family modern`) for the ACME listener")
}
