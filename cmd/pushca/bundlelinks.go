package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/provision"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/enroll"
)

// revokedLink is one enrollment link a run withdrew, in bundle's report.
type revokedLink struct {
	User   string `json:"user"`
	Server string `json:"server"`
	// Reason is "dropped" (the person left --users) or "replaced" (they got
	// a new link: --rotate-links, or a rerun of one stopped midway).
	Reason string `json:"reason"`
}

// linkRun is this run's say over the enrollment links. The bundle is named
// by its output directory, links resolved: the CSV's name and contents
// change from one export to the next, the place its sheets go to does not.
// Links from before links had owners are adopted for the people whom the
// previous run into --out gave a link, as its manifest lists them.
func linkRun(c *cli.Context, out string, old *provision.Manifest) (enroll.LinkRun, error) {
	owner, err := realPath(out)
	if err != nil {
		return enroll.LinkRun{}, fmt.Errorf("--out %s: %w", out, err)
	}
	run := enroll.LinkRun{Owner: owner, Base: c.String("base-url"), TTL: c.Duration("link-ttl"), Now: time.Now(), Rotate: c.Bool("rotate-links")}
	if old == nil || old.Inputs["base_url"] == "" {
		return run, nil
	}
	seen := map[string]bool{}
	for _, f := range old.Files {
		if k := strings.ToLower(f.User); f.User != "" && !seen[k] {
			seen[k] = true
			run.Adopt = append(run.Adopt, enroll.Link{Server: old.Inputs["server"], User: f.User})
		}
	}
	return run, nil
}

// issueLinks gives every user a page on the enrollment site before any
// sheet is written, so a run stopped midway and run again prints the same
// links; it returns the sheets' link for each user and the links issued.
func issueLinks(c *cli.Context, run enroll.LinkRun, b provision.Bundle, users []provision.User) (func(provision.User) (string, time.Time, error), []enroll.Link, error) {
	want := make([]enroll.Link, len(users))
	for i, u := range users {
		devices := u.Devices
		if len(devices) == 0 {
			devices = b.Devices
		}
		domain := u.Domain
		if domain == "" {
			domain = b.Domain
		}
		want[i] = enroll.Link{Server: b.Server, User: u.Name, Domain: domain, Email: u.Email, DisplayName: u.DisplayName, Devices: devices}
	}
	links, err := enroll.IssueLinks(push.LinksPath(c.String("dir")), run, want)
	if err != nil {
		return nil, nil, fmt.Errorf("--base-url: %w", err)
	}
	byUser := make(map[string]enroll.Link, len(links))
	for _, l := range links {
		byUser[l.User] = l
	}
	return func(u provision.User) (string, time.Time, error) {
		l := byUser[u.Name]
		return l.URL, l.Expires, nil
	}, links, nil
}

// revokeLinks runs once the bundle is written, so that until then every
// link already printed keeps working. It withdraws this bundle's links that
// the new sheets do not carry. People in bad rows are still in --users and
// keep theirs, and so does everyone listed when the run prints no links
// (no --base-url): only the people dropped from --users lose theirs.
func revokeLinks(c *cli.Context, run enroll.LinkRun, b provision.Bundle, printed []enroll.Link, users []provision.User, bad []provision.RowError) ([]revokedLink, error) {
	var spared []enroll.Link
	for _, e := range bad {
		if e.User != "" {
			spared = append(spared, enroll.Link{Server: b.Server, User: e.User})
		}
	}
	if c.String("base-url") == "" {
		for _, u := range users {
			spared = append(spared, enroll.Link{Server: b.Server, User: u.Name})
		}
	}
	path := push.LinksPath(c.String("dir"))
	revoked, err := enroll.RevokeLinks(path, run, printed, spared)
	if err != nil {
		return nil, fmt.Errorf("the bundle is written, but the enrollment links it no longer carries still work (run it again to revoke them): %w", err)
	}
	listed := map[string]bool{}
	for _, l := range printed {
		listed[strings.ToLower(l.User)] = true
	}
	out := make([]revokedLink, len(revoked))
	for i, l := range revoked {
		out[i] = revokedLink{User: l.User, Server: l.Server, Reason: "dropped"}
		if listed[strings.ToLower(l.User)] {
			out[i].Reason = "replaced"
		}
	}
	return out, nil
}

// maxNamed bounds the people a line of the report names one by one.
const maxNamed = 5

// printRevoked says which enrollment links the run withdrew.
func printRevoked(w io.Writer, revoked []revokedLink) {
	var dropped []string
	replaced := 0
	seen := map[string]bool{}
	for _, r := range revoked {
		if r.Reason == "replaced" {
			replaced++
		} else if k := strings.ToLower(r.User); !seen[k] {
			seen[k] = true
			dropped = append(dropped, fmt.Sprintf("%.40q", r.User))
		}
	}
	if len(dropped) > 0 {
		named := strings.Join(dropped[:min(len(dropped), maxNamed)], ", ")
		if len(dropped) > maxNamed {
			named += fmt.Sprintf(" and %d more", len(dropped)-maxNamed)
		}
		fmt.Fprintf(w, "revoked the enrollment links of %s no longer in --users (%s): they answer 410 Gone\n", count(len(dropped), "person", "people"), named)
	}
	if replaced > 0 {
		fmt.Fprintf(w, "revoked %s that this run replaced: they answer 410 Gone\n", count(replaced, "old enrollment link", "old enrollment links"))
	}
}
