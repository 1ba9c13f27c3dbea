package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushca/pushca/profile"
)

// fakeOptions checks the fake server at addr as a device of profileName
// with the test account and a 1 s Ping.
func fakeOptions(t *testing.T, addr, profileName string, c testCA) Options {
	t.Helper()
	o := device(addr, profileName, c.root)
	o.Login, o.Password = testUser, testPassword
	o.Heartbeat = time.Second
	return o
}

// fakeFor serves f with the chain family and suites profileName's devices
// need.
func fakeFor(t *testing.T, f *fakeEAS, c testCA, profileName string) string {
	t.Helper()
	p, err := profile.Get(profileName)
	if err != nil {
		t.Fatal(err)
	}
	return serveTLS(t, f, c.keyPair(t, p.Family), p.Suites)
}

// TestServerEnforcingProvisioningOnPolicyKeyZero: a server that lets a
// client without X-MS-PolicyKey sync, and asks one that sends 0 to
// provision, used to get "PASS the server lets the device sync without a
// policy". Now the first FolderSync carries 0, the server answers 449
// (12.0) or Status 142 (14.1), and verify provisions in both phases and
// passes.
func TestServerEnforcingProvisioningOnPolicyKeyZero(t *testing.T) {
	c := newTestCA(t, profile.FamilyLegacy, profile.FamilyModern)
	for _, tc := range []struct{ profile, how, deviceType string }{
		{"wm6", "HTTP 449", "PocketPC"},
		{"ios", "Status 142", "iPhone"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			f := newFakeEAS(t, enforceOnKey)
			r := run(t, fakeOptions(t, fakeFor(t, f, c, tc.profile), tc.profile, c))
			if r.Verdict() != Pass {
				t.Fatalf("checks that did not pass: %+v", r.Failed())
			}
			if p := check(t, r, "provision"); !strings.Contains(p.Detail, "asked for provisioning ("+tc.how+")") {
				t.Errorf("provision: %+v", p)
			}
			seen := f.requests()
			want := []string{"FolderSync 0 " + tc.deviceType, "Provision - " + tc.deviceType, "Provision 1307199584 " + tc.deviceType, "FolderSync 3942919513 " + tc.deviceType}
			if len(seen) < 4 || !slices.Equal(seen[:4], want) {
				t.Errorf("requests %q, want them to start %q", seen, want)
			}
		})
	}
}

// TestServerIgnoringPolicyWarns: a server that never asks for
// provisioning gets a warning saying so, not a pass.
func TestServerIgnoringPolicyWarns(t *testing.T) {
	c := newTestCA(t, profile.FamilyModern)
	f := newFakeEAS(t, ignorePolicy)
	r := run(t, fakeOptions(t, fakeFor(t, f, c, "android"), "android", c))
	p := check(t, r, "provision")
	if r.Verdict() != Warn || p.Verdict != Warn || !strings.Contains(p.Detail, "lets devices sync without a policy") {
		t.Fatalf("verdict %s, provision %+v", r.Verdict(), p)
	}
	if got := r.Failed(); len(got) != 1 {
		t.Errorf("only the provision check should warn: %+v", got)
	}
}

// TestProxyTimeoutIsNamed: a proxy that gives up on the held Ping used to
// be reported as a closed connection with NAT advice. Now the ping check
// fails naming the proxy timeout and the proxies' settings.
func TestProxyTimeoutIsNamed(t *testing.T) {
	c := newTestCA(t, profile.FamilyModern)
	for _, status := range []int{http.StatusGatewayTimeout, http.StatusBadGateway} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			backend := httptest.NewServer(newFakeEAS(t, ignorePolicy))
			t.Cleanup(backend.Close)
			addr := timingOutProxy(t, backend.URL, time.Second, status, c.keyPair(t, profile.FamilyModern))
			opt := fakeOptions(t, addr, "ios", c)
			opt.Heartbeat = 3 * time.Second
			r := run(t, opt)
			p := check(t, r, "ping")
			if p.Verdict != Fail || !strings.Contains(p.Detail, "a proxy timeout") || !strings.Contains(p.Detail, fmt.Sprint("HTTP ", status)) ||
				!strings.Contains(p.Do, "proxy_read_timeout") || !strings.Contains(p.Do, "ProxyTimeout") || strings.Contains(p.Do, "NAT") {
				t.Errorf("ping: %+v", p)
			}
		})
	}
}

// TestInterruptedDuringPingIsNoCut: cancelling the run while a Ping is
// held used to produce "connection closed ... context canceled" and NAT
// advice. Now Run returns ErrInterrupted with the checks that finished and
// none for the Ping.
func TestInterruptedDuringPingIsNoCut(t *testing.T) {
	c := newTestCA(t, profile.FamilyModern)
	f := newFakeEAS(t, ignorePolicy)
	opt := fakeOptions(t, fakeFor(t, f, c, "ios"), "ios", c)
	opt.Heartbeat = 30 * time.Second
	opt.Ladder = []time.Duration{time.Minute}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	go func() {
		select {
		case <-f.pinged:
			time.Sleep(200 * time.Millisecond)
		case <-ctx.Done():
		}
		cancel()
	}()
	start := time.Now()
	r, err := Run(ctx, opt)
	if !errors.Is(err, ErrInterrupted) || r == nil || !r.Interrupted {
		t.Fatalf("Run: %v, %+v", err, r)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("Run took %v after the cancel", time.Since(start))
	}
	for _, ch := range r.Checks {
		if ch.Name == "ping" || ch.Name == "ladder" || strings.Contains(ch.Do, "1800 s") {
			t.Errorf("a check made of the interruption: %+v", ch)
		}
	}
	if check(t, r, "sync").Verdict != Pass {
		t.Errorf("the checks before the Ping are kept: %+v", r.Checks)
	}
	var b strings.Builder
	r.WriteText(&b)
	if !strings.Contains(b.String(), "interrupted") {
		t.Errorf("the text report does not say interrupted:\n%s", b.String())
	}
}

// TestPushMeasuredOnlyWhenAskedOrPushca: a Deliver at hand (verify finds
// a token in --dir) is not used against a server that is not pushca serve;
// MeasurePush uses it anyway.
func TestPushMeasuredOnlyWhenAskedOrPushca(t *testing.T) {
	c := newTestCA(t, profile.FamilyModern)
	addr := fakeFor(t, newFakeEAS(t, ignorePolicy), c, "ios")
	for _, asked := range []bool{false, true} {
		var calls atomic.Int32
		opt := fakeOptions(t, addr, "ios", c)
		opt.Deliver = func(context.Context) (int, error) {
			calls.Add(1)
			return 0, errors.New("no admin API here")
		}
		opt.MeasurePush = asked
		r := run(t, opt)
		measured := slices.ContainsFunc(r.Checks, func(ch Check) bool { return ch.Name == "push" })
		if measured != asked || calls.Load() != map[bool]int32{false: 0, true: 1}[asked] {
			t.Errorf("MeasurePush %v: push check %v, %d deliveries", asked, measured, calls.Load())
		}
		if o := check(t, r, "options"); strings.Contains(o.Detail, "pushca serve") {
			t.Errorf("a server that is not pushca serve taken for one: %+v", o)
		}
	}
}

// TestPlainHTTPPortGetsNoTLSSuiteAdvice: https:// pointed at a plain-HTTP
// port used to be told to enable the devices' TLS 1.0 suites.
func TestPlainHTTPPortGetsNoTLSSuiteAdvice(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	opt := device(addr, "wm6", nil)
	opt.Roots = nil
	r := run(t, opt)
	got := check(t, r, "tls")
	if got.Verdict != Fail || !strings.Contains(got.Do, "answers plain HTTP, not TLS") || strings.Contains(got.Do, "suites") {
		t.Errorf("tls: %+v", got)
	}
}

// TestWM5AgainstServerWithout3DESNamesATLSFront: a server whose TLS
// library has no 3DES or RC4 (OpenSSL 3) cannot serve WM5, and "enable
// 3DES/RC4 on the server" cannot be followed there. The advice names a TLS
// front that has them; WM6, which has AES, gets through the same server.
func TestWM5AgainstServerWithout3DESNamesATLSFront(t *testing.T) {
	c := newTestCA(t, profile.FamilyLegacy)
	wm6, err := profile.Get("wm6")
	if err != nil {
		t.Fatal(err)
	}
	var aesOnly []uint16
	for _, s := range wm6.Suites {
		if !legacyCiphersOnly([]uint16{s}) {
			aesOnly = append(aesOnly, s)
		}
	}
	addr := serveTLS(t, http.NotFoundHandler(), c.keyPair(t, profile.FamilyLegacy), aesOnly)
	r := run(t, device(addr, "wm5", c.root))
	got := check(t, r, "tls")
	if got.Verdict != Fail || !strings.Contains(got.Do, "OpenSSL 3") || !strings.Contains(got.Do, "pushca serve") || strings.Contains(got.Do, "enable") {
		t.Errorf("wm5: %+v", got)
	}
	if got := check(t, run(t, device(addr, "wm6", c.root)), "tls"); got.Verdict != Pass {
		t.Errorf("wm6 offers AES and should get through: %+v", got)
	}
}

// TestIOSMessagesHaveNoArticleErrors: "a ios device" read wrong; the
// messages now speak of ios devices.
func TestIOSMessagesHaveNoArticleErrors(t *testing.T) {
	c := newTestCA(t, profile.FamilyModern)
	other := newTestCA(t, profile.FamilyModern)
	opt := fakeOptions(t, fakeFor(t, newFakeEAS(t, ignorePolicy), c, "ios"), "ios", other)
	r := run(t, opt)
	as := check(t, r, "activesync")
	if as.Verdict != Fail || !strings.Contains(as.Detail, "ios devices stop at the certificate") {
		t.Errorf("activesync: %+v", as)
	}
	var b strings.Builder
	r.WriteText(&b)
	if strings.Contains(b.String(), "a ios") {
		t.Errorf("report:\n%s", b.String())
	}
}

// TestDeviceTypeComesFromTheProfile: the modern profile used to send
// SmartPhone, a Windows Mobile name.
func TestDeviceTypeComesFromTheProfile(t *testing.T) {
	want := map[string]string{"wm5": "PocketPC", "wm6": "PocketPC", "wm65": "PocketPC", "ios": "iPhone", "android": "Android", "modern": "Android"}
	for _, p := range profile.All() {
		v := &verifier{opt: Options{Profile: p}}
		if got := v.newClient().DeviceType; got != want[p.Name] {
			t.Errorf("%s sends DeviceType %q, want %q", p.Name, got, want[p.Name])
		}
	}
}
