package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/profile"
)

func profilesCommand() *cli.Command {
	return &cli.Command{
		Name:      "profiles",
		Usage:     "list the device profiles, what each accepts, and the chain families that serve them",
		UsageText: "pushca profiles\n   pushca profiles --json",
		Flags:     []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			ps, fs := profile.All(), profile.Families()
			if c.Bool("json") {
				return printJSON(c.App.Writer, map[string]any{"profiles": ps, "families": fs})
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PROFILE\tFAMILY\tTLS\tWILDCARDS\tEAS\tDESCRIPTION")
			for _, p := range ps {
				fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\n", p.Name, p.Family,
					tlsRange(p.MinTLS, p.MaxTLS), p.Wildcards, p.EASVersion, p.Description)
			}
			fmt.Fprintln(w, "\nFAMILY\tKEY\tSIGNATURE\tMAX DAYS\tSERVES\tDESCRIPTION")
			for _, f := range fs {
				key := fmt.Sprintf("%s %d", f.KeyType, f.KeyBits)
				if f.KeyType == profile.KeyEC {
					key = "ECDSA " + f.Curve
				}
				var serves []string
				for _, p := range profile.ProfilesServedBy(f) {
					serves = append(serves, p.Name)
				}
				maxDays := "-"
				if f.MaxLeafDays > 0 {
					maxDays = fmt.Sprint(f.MaxLeafDays)
				}
				fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\t%s\n", f.Name, key, f.Signature, maxDays, strings.Join(serves, ","), f.Description)
			}
			return w.Flush()
		},
	}
}

// tlsRange is "TLS 1.0" for one version, "TLS 1.2-1.3" for a range.
func tlsRange(lo, hi uint16) string {
	if lo == hi {
		return profile.TLSVersionName(lo)
	}
	return profile.TLSVersionName(lo) + "-" + strings.TrimPrefix(profile.TLSVersionName(hi), "TLS ")
}
