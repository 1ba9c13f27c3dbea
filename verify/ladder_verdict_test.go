package verify

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/profile"
)

// judge runs judgeLadder on rungs a ladder of those intervals produced,
// the last one ending the ladder unless it was answered.
func judge(t *testing.T, profileName string, intervals []int, rungs []Rung) (Check, *Ladder) {
	t.Helper()
	p, err := profile.Get(profileName)
	if err != nil {
		t.Fatal(err)
	}
	v := &verifier{report: &Report{}, ended: func() error { return nil }, log: slog.New(slog.DiscardHandler)}
	v.opt.Profile = p
	for _, s := range intervals {
		v.opt.Ladder = append(v.opt.Ladder, time.Duration(s)*time.Second)
	}
	l := &Ladder{Rungs: rungs}
	var end *Rung
	for i, r := range rungs {
		if r.Outcome == RungAnswered {
			l.Longest = r.Interval
		} else {
			end = &l.Rungs[i]
		}
	}
	v.judgeLadder(l, end)
	return check(t, v.report, "ladder"), l
}

// TestShortLadderAllAnsweredClaimsNoCut: a short ladder whose rungs were
// all answered used to pass with "every Ping they hold would be cut".
func TestShortLadderAllAnsweredClaimsNoCut(t *testing.T) {
	got, l := judge(t, "wm6", []int{1, 2}, []Rung{{Interval: 1, Outcome: RungAnswered}, {Interval: 2, Outcome: RungAnswered}})
	if got.Verdict != Pass || strings.Contains(got.Detail, "cut") || !strings.Contains(got.Detail, "never go below 480 s, longer than any rung answered") || l.Settles != 0 {
		t.Errorf("ladder %+v, settles %d", got, l.Settles)
	}
	got, l = judge(t, "android", []int{470, 1010}, []Rung{{Interval: 470, Outcome: RungAnswered}, {Interval: 1010, Outcome: RungAnswered}})
	if got.Verdict != Pass || !strings.Contains(got.Detail, "android devices would settle at 1010 s") || l.Settles != 1010 {
		t.Errorf("ladder %+v, settles %d", got, l.Settles)
	}
	got, l = judge(t, "wm6", []int{480, 900}, []Rung{{Interval: 480, Outcome: RungAnswered}, {Interval: 900, Outcome: RungAnswered}})
	if got.Verdict != Pass || !strings.Contains(got.Detail, "settle at 780 s or") || l.Settles != 0 {
		t.Errorf("longer intervals were not tried, so the settling point is open: %+v, settles %d", got, l.Settles)
	}
}

// TestUntriedIntervalsAreNotCalledCut: an interval between the longest
// rung answered and the cut, or after a rung that stopped the ladder for
// another reason, was never tried and is not described as cut.
func TestUntriedIntervalsAreNotCalledCut(t *testing.T) {
	got, _ := judge(t, "wm6", []int{300, 600, 900}, []Rung{{Interval: 300, Outcome: RungAnswered}, {Interval: 600, Outcome: RungCut, Held: 550}})
	if got.Verdict != Warn || strings.Contains(got.Detail, "would be cut") || !strings.Contains(got.Detail, "add a rung of 480 s") {
		t.Errorf("480 s lies between 300 s answered and a cut after 550 s: %+v", got)
	}
	got, _ = judge(t, "wm6", []int{1, 2, 3}, []Rung{{Interval: 1, Outcome: RungAnswered}, {Interval: 2, Outcome: RungCut, Held: 1.5}})
	if got.Verdict != Fail || !strings.Contains(got.Detail, "wm6 devices never go below 480 s, longer than the 1.5 s after which the path cut an idle connection") {
		t.Errorf("a cut after 1.5 s cuts every 480 s Ping: %+v", got)
	}
	got, _ = judge(t, "wm6", []int{60, 3600, 5000}, []Rung{{Interval: 60, Outcome: RungAnswered}, {Interval: 3600, Outcome: RungRefused, Detail: "the server allows at most 3540 s"}})
	if got.Verdict != Warn || strings.Contains(got.Detail, "cut") || !strings.Contains(got.Detail, "not tried: 5000 s") {
		t.Errorf("refused: %+v", got)
	}
	got, l := judge(t, "wm6", []int{480, 780}, []Rung{{Interval: 480, Outcome: RungAnswered}, {Interval: 780, Outcome: RungDropped, Held: 795}})
	if got.Verdict != Warn || !strings.Contains(got.Detail, "wm6 devices would settle at 480 s") || l.Settles != 480 {
		t.Errorf("dropped: %+v, settles %d", got, l.Settles)
	}
}
