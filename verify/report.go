package verify

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Verdict is a check's outcome.
type Verdict string

const (
	Pass Verdict = "pass"
	Warn Verdict = "warn"
	Fail Verdict = "fail"
)

func (v Verdict) rank() int {
	switch v {
	case Pass:
		return 0
	case Warn:
		return 1
	}
	return 2
}

// Check is one verdict with what it saw and, unless it passed, what to do.
type Check struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
	Do      string  `json:"do,omitempty"`
}

// Report is the outcome of a run: the checks in the order they ran and the
// data behind them.
type Report struct {
	URL     string    `json:"url"`
	Profile string    `json:"profile"`
	Started time.Time `json:"started"`
	TLS     *TLSInfo  `json:"tls,omitempty"`
	// Version is the ActiveSync protocol version spoken.
	Version string      `json:"eas_version,omitempty"`
	Push    *PushResult `json:"push,omitempty"`
	Ladder  *Ladder     `json:"ladder,omitempty"`
	Checks  []Check     `json:"checks"`
	// Interrupted says the run was stopped (Ctrl-C, SIGTERM) before its
	// checks finished; Checks holds those that did.
	Interrupted bool `json:"interrupted,omitempty"`
}

func (r *Report) add(name string, v Verdict, detail, do string) {
	if v == Pass {
		do = ""
	}
	r.Checks = append(r.Checks, Check{Name: name, Verdict: v, Detail: detail, Do: do})
}

// Verdict is the worst verdict of all checks: Pass only when every check
// passed.
func (r *Report) Verdict() Verdict {
	worst := Pass
	for _, c := range r.Checks {
		if c.Verdict.rank() > worst.rank() {
			worst = c.Verdict
		}
	}
	return worst
}

// Failed returns the checks that did not pass.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Verdict != Pass {
			out = append(out, c)
		}
	}
	return out
}

// WriteText writes the report for a person: what was negotiated and sent,
// then one line per check with what to do under each one that did not pass.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pushca verify %s as %s devices see it\n", r.URL, r.Profile)
	if t := r.TLS; t != nil {
		fmt.Fprintln(&b)
		if t.Hello != "" {
			fmt.Fprintf(&b, "Hello sent: %s\n", t.Hello)
		}
		if t.Version != "" {
			fmt.Fprintf(&b, "TLS: %s, %s\n", t.Version, t.Suite)
		}
		if len(t.Chain) > 0 {
			family := "none of pushca's chain families"
			if t.Family != "" {
				family = "the " + t.Family + " chain family"
			}
			fmt.Fprintf(&b, "Chain sent by the server (%s):\n", family)
			for i, c := range t.Chain {
				fmt.Fprintf(&b, "  %d %s\n", i, c)
			}
		}
		if t.Root != nil {
			fmt.Fprintf(&b, "Checked against root:\n    %s\n", t.Root)
		}
	}
	if l := r.Ladder; l != nil {
		fmt.Fprintln(&b, "\nHeartbeat ladder:")
		for _, g := range l.Rungs {
			fmt.Fprintf(&b, "  %5d s  %-9s after %.1f s  %s\n", g.Interval, g.Outcome, g.Held, g.Detail)
		}
	}
	fmt.Fprintln(&b)
	counts := map[Verdict]int{}
	// As wide as the longest name (getitemestimate), so no name runs into
	// its detail.
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		counts[c.Verdict]++
		fmt.Fprintf(&b, "%-4s  %-*s  %s\n", strings.ToUpper(string(c.Verdict)), width, c.Name, c.Detail)
		if c.Do != "" {
			fmt.Fprintf(&b, "      %-*s  what to do: %s\n", width, "", c.Do)
		}
	}
	fmt.Fprintf(&b, "\n%d passed, %d warnings, %d failed\n", counts[Pass], counts[Warn], counts[Fail])
	if r.Interrupted {
		fmt.Fprintln(&b, "interrupted: only the checks above ran to the end")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
