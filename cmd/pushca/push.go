package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/push"
)

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "deliver a test message to a user through a running `pushca serve`: every Ping watching the Inbox answers at once",
		ArgsUsage: "USER",
		UsageText: `pushca push alice
   pushca push alice --subject "push test 1" --body "sent at 10:02"
   pushca push alice --admin 127.0.0.1:9444 --json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "subject", Value: "pushca test message", Usage: "message subject"},
			&cli.StringFlag{Name: "body", Usage: "message text"},
			&cli.StringFlag{Name: "admin", Value: "127.0.0.1:8444", Usage: "admin API address of the running server"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("push needs exactly one user name (see --help)")
			}
			token, err := push.ReadToken(push.TokenPath(c.String("dir")))
			if err != nil {
				return err
			}
			res, err := push.Deliver(c.Context, "http://"+c.String("admin"), token, push.DeliverRequest{
				User: c.Args().First(), Subject: c.String("subject"), Body: c.String("body"),
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			fmt.Fprintf(c.App.Writer, "delivered %s to %s; %d held Ping(s) answered\n", res.Message.ID, res.Message.To, res.Woken)
			return nil
		},
	}
}
