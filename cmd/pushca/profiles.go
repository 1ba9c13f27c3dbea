package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/profile"
)

func profilesCommand() *cli.Command {
	return &cli.Command{
		Name:      "profiles",
		Usage:     "list the device profiles and what each accepts",
		UsageText: "pushca profiles\n   pushca profiles --json",
		Flags:     []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			ps := profile.All()
			if c.Bool("json") {
				return printJSON(c.App.Writer, ps)
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tKEY\tSIGNATURE\tTLS\tWILDCARDS\tEAS\tDESCRIPTION")
			for _, p := range ps {
				key := fmt.Sprintf("%s %d", p.KeyType, p.KeyBits)
				if p.KeyType == profile.KeyEC {
					key = "EC " + p.Curve
				}
				fmt.Fprintf(w, "%s\t%s\t%v\t%s-%s\t%v\t%s\t%s\n", p.Name, key, p.Signature,
					profile.TLSVersionName(p.MinTLS), profile.TLSVersionName(p.MaxTLS), p.Wildcards, p.EASVersion, p.Description)
			}
			return w.Flush()
		},
	}
}
