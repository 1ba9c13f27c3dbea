package verify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/pushca/pushca/profile"
)

// Bounds on every network step; a Ping is bounded by eas.PingTimeout.
const (
	dialTimeout      = 15 * time.Second
	handshakeTimeout = 30 * time.Second
	commandTimeout   = time.Minute
	deliverTimeout   = 30 * time.Second
)

// DefaultHeartbeat is the Ping interval of the command flow: Exchange's
// shortest, so a plain run ends in about a minute. Devices start at 470 to
// 480 s; --ladder tests those.
const DefaultHeartbeat = 60 * time.Second

// DefaultLadder is 480 s and then 300 s steps up to 1680 s: the range
// Windows Mobile walks (reference/activesync.md).
func DefaultLadder() []time.Duration {
	var out []time.Duration
	for s := 480; s <= 1680; s += 300 {
		out = append(out, time.Duration(s)*time.Second)
	}
	return out
}

// Options says what to check and how.
type Options struct {
	// URL is the server, https://HOST[:PORT]; the ActiveSync path is added.
	URL string
	// Connect, when set, is the HOST:PORT dialled instead of the URL's: the
	// certificate is still checked against the URL's host.
	Connect string
	Profile profile.Profile
	// Roots are the roots installed on the device; none means the system's.
	Roots []*x509.Certificate
	// Login (DOMAIN\user, user@domain or user) and Password; without a
	// Login only TLS is checked.
	Login, Password string
	// Heartbeat of the flow's Ping; zero means DefaultHeartbeat.
	Heartbeat time.Duration
	// Ladder lists the rungs of the heartbeat ladder; empty: no ladder.
	Ladder []time.Duration
	// Deliver, when set, puts a test message in the user's Inbox through
	// pushca serve's admin API and returns how many held Pings it woke. The
	// run measures push latency with it when MeasurePush is set or the
	// server names itself pushca serve: no other server has that API.
	Deliver func(ctx context.Context) (woken int, err error)
	// MeasurePush measures with Deliver whatever the server names itself.
	MeasurePush bool
	// DeviceID identifies the emulated device to the server; empty means
	// one derived from the profile, so repeated runs reuse one record.
	DeviceID string
	Log      *slog.Logger
}

// verifier is one run; it lives as long as Run.
type verifier struct {
	opt  Options
	base string // scheme://host:port
	host string // the name the certificate must carry
	addr string // host:port dialled
	seen handshake
	// ended is the Err of Run's context: once it is set, a step that fails
	// failed because the run was stopped, not because of the server.
	ended  func() error
	report *Report
	log    *slog.Logger
}

// ErrInterrupted is Run's error when its context ended first (Ctrl-C,
// SIGTERM): the report then holds the checks that finished, and nothing
// about the step that was cut short.
var ErrInterrupted = errors.New("interrupted")

// add records a check unless the run was interrupted: whatever failed then
// failed because it was stopped.
func (v *verifier) add(name string, verdict Verdict, detail, do string) {
	if v.ended() != nil {
		return
	}
	v.report.add(name, verdict, detail, do)
}

// Run checks the server and returns the report. The error is for unusable
// options, or ErrInterrupted: everything the server does wrong is a check in
// the report.
func Run(ctx context.Context, opt Options) (*Report, error) {
	u, err := url.Parse(opt.URL)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", opt.URL, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: give https://HOST[:PORT]; devices speak ActiveSync over TLS only", opt.URL)
	}
	if opt.Profile.Name == "" {
		return nil, errors.New("no device profile given")
	}
	if opt.MeasurePush && opt.Deliver == nil {
		return nil, errors.New("the push measurement needs a way to deliver a test message")
	}
	if opt.Heartbeat == 0 {
		opt.Heartbeat = DefaultHeartbeat
	}
	if opt.Heartbeat < time.Second {
		return nil, fmt.Errorf("heartbeat %v: Ping intervals are whole seconds, at least 1", opt.Heartbeat)
	}
	for _, r := range opt.Ladder {
		if r < time.Second {
			return nil, fmt.Errorf("ladder rung %v: intervals are whole seconds, at least 1", r)
		}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	v := &verifier{
		opt: opt, base: "https://" + net.JoinHostPort(u.Hostname(), port),
		host: u.Hostname(), addr: net.JoinHostPort(u.Hostname(), port),
		ended:  ctx.Err,
		report: &Report{URL: opt.URL, Profile: opt.Profile.Name, Started: time.Now().UTC()},
		log:    opt.Log,
	}
	if opt.Connect != "" {
		v.addr = opt.Connect
	}
	v.log.Debug("TLS handshake", "addr", v.addr, "profile", opt.Profile.Name)
	switch {
	case !v.probeTLS(ctx):
		if v.report.TLS != nil {
			v.add("activesync", Fail, fmt.Sprintf("not tried: %s devices stop at the certificate, and pushca sends no password to a server they would refuse", opt.Profile.Name),
				"fix the TLS checks above first")
		}
	case opt.Login == "":
		v.add("activesync", Warn, "not checked: no user given", "give --user and --password-file to run what a device runs (Provision, FolderSync, Sync, Ping)")
	default:
		v.activeSync(ctx)
	}
	if ctx.Err() != nil {
		v.report.Interrupted = true
		return v.report, fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(ctx))
	}
	return v.report, nil
}

// httpClient makes one connection per request, so a Ping's idle time is
// the only idle time its connection has: the ladder measures the path, not
// a pooled connection's history. No overall timeout: contexts bound each
// command, and a Ping is held on purpose.
func (v *verifier) httpClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         v.dial,
			TLSClientConfig:     v.tlsConfig(),
			TLSHandshakeTimeout: handshakeTimeout,
			DisableKeepAlives:   true,
		},
		// ActiveSync answers 451 with X-MS-Location rather than redirecting;
		// a redirect is reported, not followed with the password.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
