package verify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push"
)

// TestAllPass runs every check as wm6 and wm5 devices against the real
// push server serving a SHA-1 chain from package ca: TLS 1.0 with their
// suites, the command flow, a 1 s Ping, a pushed test message and a short
// ladder on a direct path.
func TestAllPass(t *testing.T) {
	c := newTestCA(t, profile.FamilyLegacy)
	s := serve(t, c, nil, "wm5", "wm6")
	for _, name := range []string{"wm6", "wm5"} {
		t.Run(name, func(t *testing.T) {
			opt := options(s, name, c.root)
			opt.Ladder = []time.Duration{time.Second, 2 * time.Second}
			r := run(t, opt)
			if r.Verdict() != Pass {
				t.Fatalf("checks that did not pass: %+v", r.Failed())
			}
			if r.TLS.Version != "TLS 1.0" || len(r.TLS.Chain) != 2 || r.TLS.Root == nil {
				t.Errorf("TLS: %+v", r.TLS)
			}
			if r.Push == nil || r.Push.Fetched != 1 {
				t.Errorf("push: %+v", r.Push)
			}
			if r.Ladder == nil || r.Ladder.Longest != 2 || r.Ladder.Settles != 0 {
				t.Errorf("ladder: %+v", r.Ladder)
			}
			// Nothing was cut, and 480 s was never tried.
			if l := check(t, r, "ladder"); strings.Contains(l.Detail, "cut") {
				t.Errorf("ladder: %+v", l)
			}
			// Found by its challenge, so the push measurement ran.
			if o := check(t, r, "options"); !strings.HasPrefix(o.Detail, "pushca serve;") {
				t.Errorf("options: %+v", o)
			}
			want := map[string]string{"wm6": "12.0", "wm5": "2.5"}[name]
			if r.Version != want {
				t.Errorf("spoke ActiveSync %s, want %s", r.Version, want)
			}
			// The report is data too.
			var back Report
			data, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &back); err != nil || len(back.Checks) != len(r.Checks) || back.Checks[0] != r.Checks[0] {
				t.Fatalf("JSON round trip: %v\n%s", err, data)
			}
		})
	}
}

// TestModernProfile checks a SHA-256 chain as an iPhone: TLS 1.2 or later,
// ActiveSync 14.1 with Status 142 provisioning.
func TestModernProfile(t *testing.T) {
	c := newTestCA(t, profile.FamilyModern)
	s := serve(t, c, nil, "ios")
	r := run(t, options(s, "ios", c.root))
	if r.Verdict() != Pass {
		t.Fatalf("checks that did not pass: %+v", r.Failed())
	}
	if r.TLS.Version != "TLS 1.3" || r.Version != "14.1" {
		t.Errorf("TLS %s, ActiveSync %s", r.TLS.Version, r.Version)
	}
	if p := check(t, r, "provision"); !strings.Contains(p.Detail, "Status 142") {
		t.Errorf("provision: %+v", p)
	}
}

// TestFailures serves what newcomers get wrong and checks that the report
// fails the right check with the message they need, and sends no password.
func TestFailures(t *testing.T) {
	wm := newTestCA(t, profile.FamilyLegacy)
	other := newTestCA(t, profile.FamilyLegacy) // same names, other keys
	// RSA and SHA-256 throughout, the root's self-signature too: a wm6
	// hello reaches the certificate, which the device then refuses, and no
	// family added under that root could serve it.
	sha256CA := newTestCA(t, profile.FamilyModernRSA)
	good := serve(t, wm, nil, "wm6")
	expired := serve(t, wm, []push.KeyPair{wm.expiredPair(t)}, "wm6")
	leafOnly := serve(t, wm, []push.KeyPair{wm.leafOnly()}, "wm6")
	sha256 := serve(t, sha256CA, nil, "wm6", "ios")

	for _, tc := range []struct {
		name   string
		opt    Options
		check  string
		detail string
		do     string
		// alsoFail is a check that must not pass beside the one above.
		alsoFail string
	}{
		{"wrong root", options(good, "wm6", other.root), "chain to root", "does not verify", "--root is the root installed on the devices", ""},
		{"wrong host", func() Options {
			o := options(good, "wm6", wm.root)
			o.URL = strings.Replace(o.URL, testHost, "owa.test", 1)
			return o
		}(), "host name", `do not match "owa.test"`, "names owa.test exactly (wm6 devices do not match wildcards)", ""},
		{"expired", options(expired, "wm6", wm.root), "validity", "expired on", "pushca cert renew mail.test", ""},
		{"SHA-256 under wm6", options(sha256, "wm6", sha256CA.root), "device profile", "0x80072F0D", "refuse the root itself", ""},
		// A leaf-only server used to get "PASS chain to root" beside this.
		{"missing intermediate", options(leafOnly, "wm6", wm.root), "intermediates", "is an intermediate missing", "devices do not fetch missing intermediates", "chain to root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.opt)
			if r.Verdict() != Fail {
				t.Fatalf("verdict %s", r.Verdict())
			}
			got := check(t, r, tc.check)
			if got.Verdict != Fail || !strings.Contains(got.Detail, tc.detail) || !strings.Contains(got.Do, tc.do) {
				t.Errorf("%s check: %+v\nwant detail with %q and advice with %q", tc.check, got, tc.detail, tc.do)
			}
			if tc.alsoFail != "" {
				if also := check(t, r, tc.alsoFail); also.Verdict != Fail {
					t.Errorf("%s beside %s: %+v", tc.alsoFail, tc.check, also)
				}
			}
			if as := check(t, r, "activesync"); as.Verdict != Fail || !strings.Contains(as.Detail, "sends no password") {
				t.Errorf("activesync: %+v", as)
			}
			if r.TLS == nil || r.TLS.Version != "TLS 1.0" || len(r.TLS.Chain) == 0 {
				t.Errorf("the handshake is still reported: %+v", r.TLS)
			}
		})
	}
}

// TestLadderFindsIdleCut puts a relay that cuts connections idle for more
// than 2 s between the device and the server: the ladder of 1, 2, 3, 4 s
// must find 2 s give or take one rung and blame the path.
func TestLadderFindsIdleCut(t *testing.T) {
	const cut = 2 * time.Second
	c := newTestCA(t, profile.FamilyLegacy)
	s := serve(t, c, nil, "wm6")
	opt := options(s, "wm6", c.root)
	opt.Connect = idleCutter(t, s.HTTPSAddr(), cut)
	opt.Deliver = nil
	opt.Ladder = []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}
	r := run(t, opt)
	l := r.Ladder
	if l == nil || l.Longest < 1 || l.Longest > 3 {
		t.Fatalf("ladder: %+v, want the longest surviving rung within one rung of 2 s", l)
	}
	last := l.Rungs[len(l.Rungs)-1]
	if last.Outcome != RungCut || last.Interval != l.Longest+1 {
		t.Errorf("last rung %+v", last)
	}
	got := check(t, r, "ladder")
	if got.Verdict != Fail || !strings.Contains(got.Detail, "a network element cuts idle connections") ||
		!strings.Contains(got.Detail, "wm6 devices never go below 480 s") || !strings.Contains(got.Do, "1800 s") {
		t.Errorf("ladder check: %+v", got)
	}
	if p := check(t, r, "ping"); p.Verdict != Pass {
		t.Errorf("the 1 s Ping crosses the relay: %+v", p)
	}
}
