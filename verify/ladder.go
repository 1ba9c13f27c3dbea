package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/pushca/pushca/eas"
)

// Rung outcomes.
const (
	RungAnswered = "answered" // Status 1 on time: the path kept the connection
	RungCut      = "cut"      // closed or reset before the heartbeat ended
	RungDropped  = "dropped"  // no answer by heartbeat + 15 s
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
	// Settles is the heartbeat the profile's devices would end up using
	// (0: the profile has no heartbeat model or nothing survives).
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
	if ctx.Err() != nil {
		v.report.add("ladder", Fail, fmt.Sprintf("interrupted; the longest interval answered so far is %d s", l.Longest), "run the ladder again and let it finish")
		return
	}
	v.judgeLadder(l, end)
}

// rung holds one Ping of hb seconds and says how it ended.
func (v *verifier) rung(ctx context.Context, f *flow, hb int) Rung {
	o := v.pingOnce(ctx, f, hb, nil)
	r := Rung{Interval: hb, Held: math.Round(o.held.Seconds()*10) / 10}
	switch {
	case o.err != nil && errors.Is(o.err, context.DeadlineExceeded) && ctx.Err() == nil:
		r.Outcome, r.Detail = RungDropped, describeCut(o, hb)
	case o.err != nil:
		r.Outcome, r.Detail = RungCut, describeCut(o, hb)
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

func (v *verifier) judgeLadder(l *Ladder, end *Rung) {
	p := v.opt.Profile
	settles, ok := p.Heartbeat.Settle(l.Longest)
	device := fmt.Sprintf("%s devices would settle at %d s", p.Name, settles)
	switch {
	case p.Heartbeat.Start == 0:
		device = fmt.Sprintf("%s devices choose their own heartbeat", p.Name)
	case !ok:
		device = fmt.Sprintf("%s devices never go below %d s, so every Ping they hold would be cut and push would not work", p.Name, settles)
	default:
		l.Settles = settles
	}
	if end == nil {
		v.report.add("ladder", Pass, fmt.Sprintf("every rung up to %d s was answered on time; %s", l.Longest, device), "")
		return
	}
	switch end.Outcome {
	case RungCut, RungDropped:
		l.CutAfter = end.Held
		detail := fmt.Sprintf("a network element cuts idle connections: the %d s rung was %s after %.1f s; the longest interval that survives is %d s; %s",
			end.Interval, end.Outcome, end.Held, l.Longest, device)
		if l.Longest == 0 {
			detail = fmt.Sprintf("a network element cuts idle connections: even the first rung (%d s) was %s after %.1f s; %s", end.Interval, end.Outcome, end.Held, device)
		}
		verdict := Warn
		if !ok || l.Longest == 0 {
			verdict = Fail
		}
		v.report.add("ladder", verdict, detail, idleAdvice)
	case RungRefused:
		v.report.add("ladder", Warn, fmt.Sprintf("the server refused the %d s rung (%s); the longest interval answered is %d s; %s", end.Interval, end.Detail, l.Longest, device),
			"raise the server's maximum heartbeat (Exchange: 3540 s by default; pushca serve --heartbeat-max) if devices should hold Pings longer")
	default:
		v.report.add("ladder", Fail, fmt.Sprintf("the %d s rung ended %s: %s; the longest interval answered is %d s", end.Interval, end.Outcome, end.Detail, l.Longest),
			"run the ladder again; if it repeats, read the server's log")
	}
}
