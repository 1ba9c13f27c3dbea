package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pushca/pushca/eas"
)

// Rung outcomes.
const (
	RungAnswered = "answered" // Status 1 on time: the path kept the connection
	RungCut      = "cut"      // closed or reset before the heartbeat ended
	RungDropped  = "dropped"  // no answer by heartbeat + 15 s
	RungProxy    = "proxy"    // a proxy answered 502/504 before the heartbeat ended
	RungEarly    = "early"    // Status 1 long before the heartbeat ended
	RungRefused  = "refused"  // Status 5: beyond the server's own bound
	RungChanges  = "changes"  // mail arrived; the rung is run again
	RungFailed   = "failed"   // any other answer
)

// Rung is one Ping of the ladder.
type Rung struct {
	Interval int     `json:"interval_s"`
	Outcome  string  `json:"outcome"`
	Held     float64 `json:"held_s"`
	Detail   string  `json:"detail,omitempty"`
}

// Ladder is what the heartbeat ladder found.
type Ladder struct {
	Rungs []Rung `json:"rungs"`
	// Longest is the longest interval answered on time (0: none).
	Longest int `json:"longest_s"`
	// CutAfter is how long the connection that was cut had been held.
	CutAfter float64 `json:"cut_after_s,omitempty"`
	// Settles is the heartbeat the profile's devices would end up using,
	// when the rungs tell it (0: the profile has no heartbeat model, or the
	// rungs leave it open).
	Settles int `json:"settles_s,omitempty"`
}

const idleAdvice = "raise the idle timeout of every firewall, NAT gateway, proxy and load balancer between the devices and the server to at least 1800 s for port 443 (Microsoft KB 905013: at least 15 minutes, 30 recommended)"

// ladder holds Pings at rising intervals until one is not answered on
// time. Each rung waits its whole interval, so the default ladder takes
// about 90 minutes.
func (v *verifier) ladder(ctx context.Context, f *flow) {
	l := &Ladder{}
	v.report.Ladder = l
	var end *Rung
rungs:
	for _, d := range v.opt.Ladder {
		hb := int(d / time.Second)
		for retry := 0; retry < 2; retry++ {
			r := v.rung(ctx, f, hb)
			if ctx.Err() != nil {
				return // the rung was stopped, not answered or cut
			}
			l.Rungs = append(l.Rungs, r)
			v.log.Info("ladder rung", "interval", hb, "outcome", r.Outcome, "held", r.Held)
			switch r.Outcome {
			case RungAnswered:
				l.Longest = hb
				continue rungs
			case RungChanges:
				if _, _, err := v.syncAll(ctx, f); err == nil {
					continue
				}
			}
			end = &l.Rungs[len(l.Rungs)-1]
			break rungs
		}
	}
	v.judgeLadder(l, end)
}

// rung holds one Ping of hb seconds and says how it ended.
func (v *verifier) rung(ctx context.Context, f *flow, hb int) Rung {
	o := v.pingOnce(ctx, f, hb, nil)
	r := Rung{Interval: hb, Held: math.Round(o.held.Seconds()*10) / 10}
	_, proxy := isProxyError(o.err)
	var he *eas.HTTPError
	switch {
	case proxy:
		r.Outcome, r.Detail = RungProxy, outcomeText(o, hb)
	case errors.As(o.err, &he):
		r.Outcome, r.Detail = RungFailed, outcomeText(o, hb)
	case o.err != nil && errors.Is(o.err, context.DeadlineExceeded):
		r.Outcome, r.Detail = RungDropped, outcomeText(o, hb)
	case o.err != nil:
		r.Outcome, r.Detail = RungCut, outcomeText(o, hb)
	case o.resp.Status == eas.PingExpired && o.held >= onTime(hb):
		r.Outcome = RungAnswered
	case o.resp.Status == eas.PingExpired:
		r.Outcome, r.Detail = RungEarly, "the server ended the Ping early (restarted, or another Ping from this device)"
	case o.resp.Status == eas.PingHeartbeatOutOfRange:
		r.Outcome, r.Detail = RungRefused, fmt.Sprintf("the server allows at most %d s", o.resp.HeartbeatInterval)
	case o.resp.Status == eas.PingChanges:
		r.Outcome, r.Detail = RungChanges, "mail arrived; synced and run again"
	default:
		r.Outcome, r.Detail = RungFailed, fmt.Sprintf("Status %d (%v)", o.resp.Status, o.resp.Status)
	}
	return r
}

// onTime is the least a Ping must be held to count as a heartbeat that
// expired: servers answer on their own timer, a little early at most.
func onTime(hb int) time.Duration {
	slack := max(time.Second, time.Duration(hb)*time.Second/10)
	return time.Duration(hb)*time.Second - slack
}

// judgeLadder says what the rungs showed and nothing more: an interval
// between the longest rung answered and the first cut, or beyond the last
// rung tried, is unknown.
func (v *verifier) judgeLadder(l *Ladder, end *Rung) {
	if end == nil {
		d := v.outlook(l, 0)
		v.add("ladder", Pass, fmt.Sprintf("every rung up to %d s was answered on time; %s", l.Longest, d.text), "")
		return
	}
	untried := v.untried(end.Interval)
	switch end.Outcome {
	case RungCut, RungDropped, RungProxy:
		// A Ping idle for as long as this one was cut, so every longer one
		// would be; a silent drop shows only that its whole interval was
		// too long.
		cutAt := end.Held
		if end.Outcome == RungDropped {
			cutAt = float64(end.Interval)
		}
		l.CutAfter = end.Held
		d := v.outlook(l, cutAt)
		what, do := "a network element cuts idle connections", idleAdvice
		if end.Outcome == RungProxy {
			what, do = "a proxy gives up on held Pings", proxyAdvice
		}
		how := fmt.Sprintf("was %s after %.1f s", end.Outcome, end.Held)
		if end.Outcome == RungProxy {
			how = "got " + end.Detail
		}
		detail := fmt.Sprintf("%s: the %d s rung %s; the longest interval answered is %d s; %s", what, end.Interval, how, l.Longest, d.text)
		if l.Longest == 0 {
			detail = fmt.Sprintf("%s: even the first rung (%d s) %s; %s", what, end.Interval, how, d.text)
		}
		verdict := Warn
		if d.allCut || l.Longest == 0 {
			verdict = Fail
		}
		v.add("ladder", verdict, detail, do)
	case RungRefused:
		d := v.outlook(l, 0)
		v.add("ladder", Warn, fmt.Sprintf("the server refused the %d s rung (%s); the longest interval answered is %d s; %s%s", end.Interval, end.Detail, l.Longest, d.text, untried),
			"raise the server's maximum heartbeat (Exchange: 3540 s by default; pushca serve --heartbeat-max) if devices should hold Pings longer")
	default:
		v.add("ladder", Fail, fmt.Sprintf("the %d s rung ended %s: %s; the longest interval answered is %d s%s", end.Interval, end.Outcome, end.Detail, l.Longest, untried),
			"run the ladder again; if it repeats, read the server's log")
	}
}

// untried names the rungs after the one the ladder stopped at.
func (v *verifier) untried(stopped int) string {
	var rest []string
	for _, d := range v.opt.Ladder {
		if s := int(d / time.Second); s > stopped {
			rest = append(rest, fmt.Sprint(s))
		}
	}
	if len(rest) == 0 {
		return ""
	}
	return fmt.Sprintf("; not tried: %s s", strings.Join(rest, ", "))
}

// deviceOutlook is what the rungs say about the profile's devices.
type deviceOutlook struct {
	text string
	// allCut: every interval the devices use is longer than one the path
	// was seen to cut.
	allCut bool
}

// outlook applies the profile's heartbeat model to a path that kept
// connections idle for l.Longest seconds and cut one idle for cutAt
// seconds (0: none was cut, so anything beyond the last rung is unknown).
// It sets l.Settles only when the two bounds agree.
func (v *verifier) outlook(l *Ladder, cutAt float64) deviceOutlook {
	p := v.opt.Profile
	h := p.Heartbeat
	if h.Start == 0 {
		return deviceOutlook{text: fmt.Sprintf("%s devices choose their own heartbeat", p.Name), allCut: cutAt > 0}
	}
	// The longest interval that might still survive: just under the cut,
	// or, with nothing cut, anything the devices would try.
	upper := h.Max
	if cutAt > 0 {
		upper = int(math.Ceil(cutAt)) - 1
	}
	lo, loOK := h.Settle(l.Longest)
	hi, hiOK := h.Settle(upper)
	switch {
	case loOK && lo == hi:
		l.Settles = lo
		return deviceOutlook{text: fmt.Sprintf("%s devices would settle at %d s", p.Name, lo)}
	case loOK:
		return deviceOutlook{text: fmt.Sprintf("%s devices would settle at %d s or, if the path keeps connections longer than the longest rung answered, up to %d s", p.Name, lo, hi)}
	case !hiOK:
		return deviceOutlook{text: fmt.Sprintf("%s devices never go below %d s, longer than the %s s after which the path cut an idle connection, so every Ping they hold would be cut and push would not work", p.Name, h.Min, seconds(cutAt)), allCut: true}
	case cutAt > 0:
		return deviceOutlook{text: fmt.Sprintf("%s devices never go below %d s, which lies between the longest rung answered (%d s) and the cut (%s s): add a rung of %d s to see whether their Pings survive", p.Name, h.Min, l.Longest, seconds(cutAt), h.Min)}
	}
	return deviceOutlook{text: fmt.Sprintf("%s devices never go below %d s, longer than any rung answered, so these rungs do not show whether their Pings survive: run rungs that long (--ladder)", p.Name, h.Min)}
}

// seconds prints 1.5 as 1.5 and 780 as 780.
func seconds(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) }
