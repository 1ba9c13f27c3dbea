package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/plan"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/pgstate"
	"github.com/pushca/pushca/push/state"
)

// exitPlanLoses is cert plan's verdict that known devices would be cut
// off: a finding for a script, like cert status's 3, not a failure.
const exitPlanLoses = 3

func certPlanCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "say which known devices would lose every chain they accept after a renew, rotate, revoke or family change (no CA password needed)",
		ArgsUsage: "HOST",
		UsageText: `pushca cert plan mail.example.com                 # what renew and rotate keep
   pushca cert plan mail.example.com --drop legacy   # before cert revoke mail.example.com --family legacy
   pushca cert plan mail.example.com --family modern-rsa --json`,
		Description: `The devices are those pushca serve recorded whose latest handshake was with one
of HOST's certificates (any version, revoked ones too): push/devices.db, or,
while pushca serve holds that file, the running server's admin API (--admin);
on a CA kept in PostgreSQL, the records every serve on it shares there.
Devices that talk only to another server (IIS, nginx) are not known to pushca.

What a device accepts comes from the profile table (pushca profiles) by its
DeviceType and protocol version; a device the table does not list accepts the
family the server chose for its handshake. Devices with neither are listed as
unknown and do not change the verdict.

cert rotate HOST and cert revoke HOST run the same check and refuse unless
--force; cert revoke --reason key-compromise only warns.

Exit codes: 0 no known device would be lost; 3 some would be (they are listed);
1 any other failure; 64 a command line pushca cannot run.`,
		Flags: append(adminFlags(),
			&cli.StringSliceFlag{Name: "family", Usage: "a family HOST serves after the change (repeatable); default: the families of its active certificates, which renew and rotate keep"},
			&cli.StringSliceFlag{Name: "drop", Usage: "a family HOST stops serving, as cert revoke HOST --family F does (repeatable)"},
			jsonFlag,
		),
		Action: withReader(func(c *cli.Context, r *ca.Reader) error {
			if c.NArg() != 1 {
				return usageErrorf("cert plan needs exactly one HOST argument (see --help)")
			}
			if err := loopbackAdmin(c.String("admin")); err != nil {
				return err
			}
			host := strings.ToLower(c.Args().First())
			recs, err := r.List(c.Context)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(recs, func(rec ca.Record) bool { return rec.Host == host }) {
				return fmt.Errorf("%s has no certificate in the inventory (see `pushca cert list`)", host)
			}
			after, err := planFamilies(host, activeFamilies(recs, host), c.StringSlice("family"), c.StringSlice("drop"))
			if err != nil {
				return err
			}
			devs, source, err := deviceRecords(c)
			if err != nil {
				return err
			}
			rep := plan.Check(after, devs, serialHosts(recs), host)
			if c.Bool("json") {
				out := struct {
					plan.Report
					Source string `json:"source"`
				}{rep, source}
				if err := printJSON(c.App.Writer, out); err != nil {
					return err
				}
			} else {
				writePlan(c.App.Writer, rep, source)
			}
			if n := rep.LostDevices(); n > 0 {
				return exitf(exitPlanLoses, "%d known device(s) of %s would lose every chain they accept", n, host)
			}
			return nil
		}),
	}
}

// planFamilies is what host serves after the change: the families named
// (the active ones when none is), less those dropped.
func planFamilies(host string, active, named, drop []string) ([]string, error) {
	after := active
	if len(named) > 0 {
		after = nil
		for _, n := range named {
			if _, err := profile.GetFamily(n); err != nil {
				return nil, usageErrorf("--family: %v", err)
			}
			if !slices.Contains(after, n) {
				after = append(after, n)
			}
		}
	}
	for _, d := range drop {
		if _, err := profile.GetFamily(d); err != nil {
			return nil, usageErrorf("--drop: %v", err)
		}
		if !slices.Contains(after, d) {
			return nil, usageErrorf("--drop %s: %s would not serve %s anyway (it would serve %s)", d, host, d, orNone(after))
		}
		after = slices.DeleteFunc(slices.Clone(after), func(f string) bool { return f == d })
	}
	return after, nil
}

// activeFamilies are the families of host's active certificates, in the
// inventory's order.
func activeFamilies(recs []ca.Record, host string) []string {
	var out []string
	for _, r := range recs {
		if r.Host == host && r.State == ca.StateActive && !slices.Contains(out, r.Family) {
			out = append(out, r.Family)
		}
	}
	return out
}

// serialHosts maps every serial in the inventory, whatever its state, to
// its host: a device that last saw a superseded certificate is still the
// host's.
func serialHosts(recs []ca.Record) func(string) (string, bool) {
	m := make(map[string]string, len(recs))
	for _, r := range recs {
		m[r.Serial] = r.Host
	}
	return func(serial string) (string, bool) {
		h, ok := m[serial]
		return h, ok
	}
}

// deviceRecords returns the device records pushca serve collected and
// where they came from: push/devices.db, or, when a running server holds
// that file, the server's admin API named by adminFlags (checked to be
// loopback by the caller).
func deviceRecords(c *cli.Context) ([]state.Device, string, error) {
	dsn, err := pushDB(c)
	if err != nil {
		return nil, "", err
	}
	if dsn != "" {
		devs, err := pgstate.ReadDevices(c.Context, dsn)
		return devs, "the database " + dsn, err
	}
	path := push.DevicesPath(c.String("dir"))
	devs, err := state.ReadBoltDevices(path)
	if !errors.Is(err, state.ErrDevicesInUse) {
		return devs, path, err
	}
	token, terr := ops.ReadToken(adminTokenFile(c))
	if terr != nil {
		return nil, "", fmt.Errorf("%w; asking its admin API instead: %w", err, terr)
	}
	base := "http://" + c.String("admin")
	devs, aerr := ops.ListDevices(c.Context, base, token)
	if aerr != nil {
		return nil, "", fmt.Errorf("%w; asking its admin API instead (--admin): %w", err, aerr)
	}
	return devs, "the admin API at " + c.String("admin"), nil
}

// preflight runs cert plan's check before a change after which host
// serves the families after. Known devices that would accept none of them
// refuse the change, listed in the error, unless warnOnly (--force, or a
// key compromise that must be revocable at once): then they are a warning
// on stderr. Device records that cannot be read refuse it the same way,
// since a check that cannot look must not pass.
func preflight(c *cli.Context, recs []ca.Record, host string, after []string, what string, warnOnly bool) error {
	devs, _, err := deviceRecords(c)
	if err != nil {
		if warnOnly {
			fmt.Fprintf(stderr(c), "pushca: warning: cannot tell which devices %s cuts off: %v\n", what, err)
			return nil
		}
		return fmt.Errorf("%s not done: cannot tell which devices it would cut off: %w (pass --force to go on without the check)", what, err)
	}
	rep := plan.Check(after, devs, serialHosts(recs), host)
	n := rep.LostDevices()
	if n == 0 {
		return nil
	}
	var b strings.Builder
	writeLost(&b, rep)
	head := fmt.Sprintf("%d known device(s) of %s accept none of the chains it would serve (%s)", n, host, orNone(after))
	if warnOnly {
		fmt.Fprintf(stderr(c), "pushca: warning: %s goes on, but %s:\n%s", what, head, b.String())
		return nil
	}
	return fmt.Errorf("%s refused: %s:\n%s%s", what, head, b.String(), remedy(rep, host))
}

// remedy says how to go on after a refusal: keep or give the host a chain
// the devices accept, or --force.
func remedy(rep plan.Report, host string) string {
	var need []string
	for _, g := range rep.Lost {
		for _, f := range g.Accepts {
			if !slices.Contains(need, f) {
				need = append(need, f)
			}
		}
	}
	var cmds []string
	for _, f := range need {
		cmds = append(cmds, fmt.Sprintf("`pushca cert issue %s --family %s --force`", host, f))
	}
	return fmt.Sprintf("keep a chain they accept, or give %s one (%s), or pass --force to cut them off", host, strings.Join(cmds, " or "))
}

func orNone(fs []string) string {
	if len(fs) == 0 {
		return "none"
	}
	return strings.Join(fs, ", ")
}

// writePlan prints cert plan's report.
func writePlan(w io.Writer, rep plan.Report, source string) {
	fmt.Fprintf(w, "%s after the change serves: %s\n", rep.Host, orNone(rep.After))
	fmt.Fprintf(w, "%d known device(s) last handshook with its certificates (device records from %s)\n", rep.Devices, source)
	if n := rep.LostDevices(); n > 0 {
		fmt.Fprintf(w, "%d would lose every chain they accept:\n", n)
		writeLost(w, rep)
	} else {
		fmt.Fprintln(w, "no known device would lose every chain it accepts")
	}
	if len(rep.Unknown) > 0 {
		fmt.Fprintf(w, "%d device(s) of a kind the profile table does not list, with no family recorded (not judged):\n", len(rep.Unknown))
		writeDevices(w, rep.Unknown)
	}
}

// writeLost lists the lost devices group by group.
func writeLost(w io.Writer, rep plan.Report) {
	for _, g := range rep.Lost {
		fmt.Fprintf(w, "  %s (accepts %s): %d device(s)\n", g.Name(), orNone(g.Accepts), len(g.Devices))
		writeDevices(w, g.Devices)
	}
}

func writeDevices(out io.Writer, devs []plan.Device) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "    USER\tDEVICE\tTYPE\tUSER AGENT\tPROTOCOL\tLAST SEEN")
	for _, d := range devs {
		seen := "-"
		if !d.LastSeen.IsZero() {
			seen = d.LastSeen.UTC().Format("2006-01-02 15:04 UTC")
		}
		fmt.Fprintf(w, "    %s\t%s\t%s\t%s\t%s\t%s\n", cell(d.User), cell(d.ID), cell(d.Type), cell(d.UserAgent), cell(d.Protocol), seen)
	}
	w.Flush()
}

// cell is a device's own words fit for a terminal table: a device chooses
// its id, type and user agent, and a control character in them must not
// move the cursor or recolour the operator's terminal, nor a tab break the
// columns.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}
