package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/ops"
)

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "deliver a test message to a user through a running `pushca serve`: every Ping watching the Inbox answers at once",
		ArgsUsage: "USER",
		UsageText: `pushca push alice
   pushca push alice --subject "push test 1" --body "sent at 10:02"
   pushca push alice --admin 127.0.0.1:9444 --json`,
		Flags: append(adminFlags(),
			&cli.StringFlag{Name: "subject", Value: "pushca test message", Usage: "message subject"},
			&cli.StringFlag{Name: "body", Usage: "message text"},
			jsonFlag,
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("push needs exactly one user name (see --help)")
			}
			deliver, err := adminDeliverer(c)
			if err != nil {
				return err
			}
			res, err := deliver(c.Context, ops.DeliverRequest{
				User: c.Args().First(), Subject: c.String("subject"), Body: c.String("body"),
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			fmt.Fprintf(c.App.Writer, "delivered %s to %s; %d held Ping(s) answered", res.Message.ID, res.Message.To, res.Woken)
			// The admin API counts its own serve's Pings only.
			if dsn, err := pushDB(c); err == nil && dsn != "" {
				fmt.Fprint(c.App.Writer, " on that serve; every serve sharing its database wakes its own")
			}
			fmt.Fprintln(c.App.Writer)
			return nil
		},
	}
}

// adminFlags name the admin API of a running `pushca serve` and its token.
func adminFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "admin", Value: "127.0.0.1:8444", Usage: "admin API address of the running server: a loopback address, since the token goes over plain HTTP"},
		&cli.StringFlag{Name: "admin-token-file", Usage: "admin token file (default: push/admin.token in --dir, written by pushca serve)"},
	}
}

type deliverFunc func(context.Context, ops.DeliverRequest) (ops.DeliverResult, error)

// adminDeliverer reads the admin token once and returns what delivers a
// message through the admin API named by adminFlags.
func adminDeliverer(c *cli.Context) (deliverFunc, error) {
	return adminDelivererAt(c.String("admin"), adminTokenFile(c))
}

// adminTokenFile is --admin-token-file, or the token pushca serve keeps
// in --dir.
func adminTokenFile(c *cli.Context) string {
	if path := c.String("admin-token-file"); path != "" {
		return path
	}
	return push.TokenPath(c.String("dir"))
}

// adminDelivererAt is adminDeliverer for the admin API at addr, with the
// token in tokenFile.
func adminDelivererAt(addr, tokenFile string) (deliverFunc, error) {
	if err := loopbackAdmin(addr); err != nil {
		return nil, err
	}
	token, err := ops.ReadToken(tokenFile)
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	return func(ctx context.Context, req ops.DeliverRequest) (ops.DeliverResult, error) {
		return ops.Deliver(ctx, base, token, req)
	}, nil
}

// loopbackAdmin refuses an admin address off this machine before anything
// is sent: the admin token goes over plain HTTP, which only loopback keeps
// private. The server binds its admin API to loopback only; the client
// must not carry the token elsewhere either (a typo, a planted config, a
// proxy from the environment). Names are not resolved, since a name can
// resolve elsewhere later: only localhost is taken.
func loopbackAdmin(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--admin %q: want HOST:PORT, e.g. 127.0.0.1:8444", addr)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() || strings.EqualFold(host, "localhost") {
		return nil
	}
	return usageErrorf("--admin %s: not a loopback address (127.0.0.0/8, ::1, localhost); the admin token goes over plain HTTP, so run this on the server's machine (e.g. over ssh)", addr)
}
