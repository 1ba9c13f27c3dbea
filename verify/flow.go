package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pushca/pushca/eas"
)

// parkDelay is how long the push measurement waits after its Ping is sent
// before it delivers the message, so the server has parked the Ping and the
// measurement is of a push, not of a Ping finding mail already waiting.
const parkDelay = time.Second

// flow is the state a device keeps between commands.
type flow struct {
	c        *eas.Client
	inbox    string
	syncKey  string
	accepted int // heartbeat the server last answered with Status 1, seconds
	// pushca: the server named itself pushca serve (see identify).
	pushca bool
	// unprovisioned is the index of the provision check when the first
	// FolderSync went through without a policy, -1 otherwise.
	unprovisioned int
}

func (v *verifier) newClient() *eas.Client {
	p := v.opt.Profile
	id := v.opt.DeviceID
	if id == "" {
		id = "PUSHCAVERIFY" + strings.ToUpper(p.Name)
	}
	return &eas.Client{
		HTTP: v.httpClient(), URL: v.base,
		Login: v.opt.Login, Password: v.opt.Password,
		DeviceID: id, DeviceType: p.DeviceType, Version: p.EASVersion,
		UserAgent:         "pushca-verify/" + p.Name,
		DeviceInformation: &eas.DeviceInformation{Model: "pushca verify", FriendlyName: "pushca verify (" + p.Name + ")"},
		AutoProvision:     true,
	}
}

// activeSync runs what a device runs after it trusts the server.
func (v *verifier) activeSync(ctx context.Context) {
	f := &flow{c: v.newClient(), unprovisioned: -1}
	defer v.askedLater(f)
	steps := []func(context.Context, *flow) bool{v.options, v.provision, v.inboxSync, v.ping}
	for _, step := range steps {
		if !step(ctx, f) {
			return
		}
	}
	switch {
	case v.opt.Deliver != nil && (v.opt.MeasurePush || f.pushca):
		v.push(ctx, f)
	case f.pushca:
		v.log.Info("push latency not measured: the server is pushca serve, and its admin token was not found here (run verify on its machine with --dir, or give --admin-token-file)")
	}
	if len(v.opt.Ladder) > 0 {
		v.ladder(ctx, f)
	}
}

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, commandTimeout)
}

// pushcaRealm starts the Basic realm pushca serve's ActiveSync answers
// with: the name by which verify knows it has the admin API.
const pushcaRealm = "pushca"

// identify sends OPTIONS without credentials, which costs no failed login:
// pushca serve names itself in its challenge. Any other answer is left to
// the OPTIONS with credentials to judge.
func (v *verifier) identify(ctx context.Context, f *flow) {
	anon := &eas.Client{HTTP: f.c.HTTP, URL: f.c.URL, UserAgent: f.c.UserAgent}
	_, err := anon.Options(ctx)
	var he *eas.HTTPError
	f.pushca = errors.As(err, &he) && strings.HasPrefix(he.Realm, pushcaRealm)
}

// options asks which versions and commands the server offers and picks the
// version the device would speak.
func (v *verifier) options(ctx context.Context, f *flow) bool {
	ctx, cancel := bounded(ctx)
	defer cancel()
	v.identify(ctx, f)
	o, err := f.c.Options(ctx)
	if err != nil {
		v.add("options", Fail, err.Error(), httpAdvice(err))
		return false
	}
	want := f.c.Version
	version := pickVersion(want, o.Versions)
	detail := fmt.Sprintf("versions %s; commands %s", strings.Join(o.Versions, ","), strings.Join(o.Commands, ","))
	if f.pushca {
		detail = "pushca serve; " + detail
	}
	if version == "" {
		v.add("options", Fail, detail, fmt.Sprintf("%s devices speak ActiveSync %s or older: enable it on the server", v.opt.Profile.Name, want))
		return false
	}
	f.c.Version, v.report.Version = version, version
	if !slices.Contains(o.Commands, "Ping") {
		v.add("options", Fail, detail+"; no Ping, so no DirectPush", "enable DirectPush (the Ping command) on the server")
		return false
	}
	if version != want {
		v.add("options", Warn, fmt.Sprintf("%s; %s devices speak %s, the server offers at most %s", detail, v.opt.Profile.Name, want, version),
			"devices fall back to the older version; upgrade the server if they need "+want)
		return true
	}
	v.add("options", Pass, fmt.Sprintf("%s; %s devices speak %s", detail, v.opt.Profile.Name, version), "")
	return true
}

// pickVersion is the version a device speaking want uses with a server
// offering offered: want itself, or the newest older one.
func pickVersion(want string, offered []string) string {
	best := ""
	for _, o := range offered {
		if eas.VersionAtLeast(want, o) && (best == "" || eas.VersionAtLeast(o, best)) {
			best = o
		}
	}
	return best
}

// proxyAdvice is what to do when a proxy in front of the server gives up
// on a request: a held Ping is idle for its whole heartbeat by design.
const proxyAdvice = "a reverse proxy or load balancer in front of the ActiveSync server gave up waiting for its answer. Raise its read timeout above the longest heartbeat devices use (Exchange allows up to 3540 s, so about 3600 s): nginx proxy_read_timeout 3600s; Apache ProxyTimeout 3600 (or timeout= on the ProxyPass); IIS ARR: the server farm's Proxy timeout; HAProxy timeout server 3600s; other load balancers: the idle timeout of the HTTP profile"

// isProxyError says whether err is a 502 or 504: what proxies answer when
// the server behind them does not (Apache and IIS ARR say 502 on a
// timeout, nginx and HAProxy 504).
func isProxyError(err error) (*eas.HTTPError, bool) {
	var he *eas.HTTPError
	ok := errors.As(err, &he) && (he.StatusCode == 502 || he.StatusCode == 504)
	return he, ok
}

func httpAdvice(err error) string {
	if _, ok := isProxyError(err); ok {
		return proxyAdvice
	}
	if errors.Is(err, eas.ErrProvisionRequired) {
		return "the server asked for provisioning again after the device had acknowledged its policy; its log says why (a policy key it does not keep, or a policy the device must acknowledge again)"
	}
	var he *eas.HTTPError
	if errors.As(err, &he) {
		switch he.StatusCode {
		case 401:
			return "the server refused the user name or password: check --user (DOMAIN\\user or user@domain) and the password file; with pushca serve, add the user with `pushca users add NAME`"
		case 403:
			return "the user is not enabled for ActiveSync on the server"
		case 451:
			return "the server redirects this user to " + he.Location + ": verify that URL instead"
		case 503:
			return "the server is overloaded or in maintenance; try again later"
		}
		return "the server answered with an HTTP error; its log says why"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the server did not answer in time; check its load and anything between here and it (proxies, load balancers)"
	}
	return "the connection failed after the handshake; check the server's log and anything between here and it"
}

// provision runs a device's first contact: FolderSync with policy key 0;
// when the server asks for provisioning (HTTP 449 or Status 142-144) the
// device provisions in both phases and starts over (inboxSync).
func (v *verifier) provision(ctx context.Context, f *flow) bool {
	ctx, cancel := bounded(ctx)
	defer cancel()
	f.c.AutoProvision = false
	_, err := f.c.FolderSync(ctx, eas.InitialSyncKey)
	f.c.AutoProvision = true
	if err == nil {
		f.unprovisioned = len(v.report.Checks)
		v.add("provision", Warn, "the server accepted FolderSync with X-MS-PolicyKey 0 and never asked for provisioning: it lets devices sync without a policy",
			"nothing to fix for push; if devices must accept a policy (PIN, remote wipe), enable provisioning on the server")
		return true
	}
	if !errors.Is(err, eas.ErrProvisionRequired) {
		v.add("provision", Fail, "first FolderSync: "+err.Error(), httpAdvice(err))
		return false
	}
	how := "HTTP 449"
	var se *eas.StatusError
	if errors.As(err, &se) {
		how = fmt.Sprintf("Status %d", se.Status)
	}
	res, err := f.c.Provision(ctx)
	if err != nil {
		v.add("provision", Fail, fmt.Sprintf("the server asked for provisioning (%s), then: %v", how, err),
			"the server's policy must be one a device can acknowledge; check its ActiveSync mailbox policy and log")
		return false
	}
	v.add("provision", Pass, fmt.Sprintf("the server asked for provisioning (%s); policy %s acknowledged, policy key %d",
		how, res.Policy.PolicyType, res.PolicyKey), "")
	return true
}

// askedLater turns the provision warning into a pass when the server asked
// for provisioning on a later command after all (the client then
// provisioned by itself): the warning would claim it never asks.
func (v *verifier) askedLater(f *flow) {
	i, key := f.unprovisioned, f.c.PolicyKey()
	if i < 0 || i >= len(v.report.Checks) || v.report.Checks[i].Name != "provision" || key == 0 {
		return
	}
	v.report.Checks[i] = Check{Name: "provision", Verdict: Pass,
		Detail: fmt.Sprintf("the server accepted the first FolderSync without a policy, asked for provisioning on a later command, and the device provisioned (policy key %d)", key)}
}

// inboxSync finds the Inbox, primes its Sync state, asks for an estimate
// and syncs it, as Windows Mobile does before its first Ping.
func (v *verifier) inboxSync(ctx context.Context, f *flow) bool {
	ctx, cancel := bounded(ctx)
	defer cancel()
	fs, err := f.c.FolderSync(ctx, eas.InitialSyncKey)
	if err == nil && fs.Status != eas.FolderSyncOK {
		err = fmt.Errorf("status %d (%v)", fs.Status, fs.Status)
	}
	if err != nil {
		v.add("foldersync", Fail, err.Error(), httpAdvice(err))
		return false
	}
	var folders int
	if fs.Changes != nil {
		folders = len(fs.Changes.Add)
		for _, fl := range fs.Changes.Add {
			if fl.Type == eas.FolderInbox {
				f.inbox = fl.ServerID
			}
		}
	}
	if f.inbox == "" {
		v.add("foldersync", Fail, fmt.Sprintf("%d folders and no Inbox (type 2)", folders), "the mailbox must have an Inbox; check the user's mailbox on the server")
		return false
	}
	v.add("foldersync", Pass, fmt.Sprintf("%d folders; Inbox is %s", folders, f.inbox), "")

	prime, err := v.syncRound(ctx, f, eas.InitialSyncKey, false)
	if err != nil {
		v.add("sync", Fail, "priming the Inbox: "+err.Error(), httpAdvice(err))
		return false
	}
	f.syncKey = prime.SyncKey
	est, err := f.c.GetItemEstimate(ctx, &eas.GetItemEstimateRequest{Collections: []eas.EstimateCollection{v.estimateCollection(f)}})
	estimate := -1
	if err == nil {
		if len(est.Responses) == 0 || est.Responses[0].Status != eas.EstimateOK || est.Responses[0].Collection == nil {
			err = fmt.Errorf("no usable estimate in %+v", est.Responses)
		} else {
			estimate = est.Responses[0].Collection.Estimate
		}
	}
	if err != nil {
		v.add("getitemestimate", Fail, err.Error(), httpAdvice(err))
		return false
	}
	v.add("getitemestimate", Pass, fmt.Sprintf("%d item(s) waiting in the Inbox", estimate), "")

	items, more, err := v.syncAll(ctx, f)
	if err != nil {
		v.add("sync", Fail, err.Error(), httpAdvice(err))
		return false
	}
	if more {
		v.add("sync", Warn, fmt.Sprintf("fetched %d item(s) and more are available; the Ping may answer at once", items),
			"nothing to fix on the server: a device keeps syncing; run verify again or on a quieter mailbox")
		return true
	}
	v.add("sync", Pass, fmt.Sprintf("fetched %d item(s) from the Inbox", items), "")
	return true
}

// maxSyncRounds bounds the catch-up of a busy Inbox.
const maxSyncRounds = 10

// syncAll fetches the Inbox's changes, a window at a time.
func (v *verifier) syncAll(ctx context.Context, f *flow) (items int, more bool, err error) {
	for range maxSyncRounds {
		r, err := v.syncRound(ctx, f, f.syncKey, true)
		if err != nil {
			return items, false, err
		}
		f.syncKey = r.SyncKey
		if r.Commands != nil {
			items += len(r.Commands.Add) + len(r.Commands.Change)
		}
		if !r.MoreAvailable {
			return items, false, nil
		}
	}
	return items, true, nil
}

func (v *verifier) syncRound(ctx context.Context, f *flow, key string, changes bool) (*eas.SyncCollectionResponse, error) {
	col := eas.SyncCollection{SyncKey: key, CollectionID: f.inbox}
	if !eas.VersionAtLeast(f.c.Version, "14.0") {
		col.Class = "Email"
	}
	if changes {
		yes := true
		filter := 2 // three days, a common device default
		col.GetChanges, col.WindowSize = &yes, 50
		col.Options = &eas.SyncOptions{FilterType: &filter}
		if f.c.Version == "2.5" {
			trunc := 1 // 500 bytes
			col.Options.Truncation = &trunc
		} else {
			col.Options.BodyPreference = []eas.BodyPreference{{Type: eas.BodyPlain, TruncationSize: 500}}
		}
	}
	r, err := f.c.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{col}})
	if err != nil {
		return nil, err
	}
	if len(r.Collections) == 0 {
		if r.Status != 0 && r.Status != eas.SyncOK {
			return nil, fmt.Errorf("Sync: status %d (%v)", r.Status, r.Status)
		}
		return nil, errors.New("Sync: no collection in the response")
	}
	c := &r.Collections[0]
	if c.Status != eas.SyncOK {
		return nil, fmt.Errorf("Sync: status %d (%v)", c.Status, c.Status)
	}
	return c, nil
}

func (v *verifier) estimateCollection(f *flow) eas.EstimateCollection {
	c := eas.EstimateCollection{SyncKey: f.syncKey, CollectionID: f.inbox}
	filter := 2
	if eas.VersionAtLeast(f.c.Version, "14.0") {
		c.Options = &eas.SyncOptions{FilterType: &filter}
	} else {
		c.Class, c.FilterType = "Email", &filter
	}
	return c
}

// pingOutcome is one Ping: the response or the error, and how long the
// connection was held.
type pingOutcome struct {
	resp *eas.PingResponse
	err  error
	held time.Duration
}

// pingOnce holds one Ping of hb seconds on the Inbox, bounded by the
// device's socket timeout. wrote, when not nil, is called once the request
// has been written.
func (v *verifier) pingOnce(ctx context.Context, f *flow, hb int, wrote func()) pingOutcome {
	ctx, cancel := context.WithTimeout(ctx, eas.PingTimeout(time.Duration(hb)*time.Second))
	defer cancel()
	if wrote != nil {
		var once sync.Once
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(wrote) },
		})
	}
	v.log.Debug("holding a Ping", "heartbeat", hb)
	start := time.Now()
	r, err := f.c.Ping(ctx, &eas.PingRequest{HeartbeatInterval: hb, Folders: []eas.PingFolder{{ID: f.inbox, Class: "Email"}}})
	return pingOutcome{resp: r, err: err, held: time.Since(start)}
}

// ping holds one Ping at the asked heartbeat. A Status 5 answer carries
// the server's bound; a device retries with it, and so does this.
func (v *verifier) ping(ctx context.Context, f *flow) bool {
	hb := int(v.opt.Heartbeat / time.Second)
	o := v.pingOnce(ctx, f, hb, nil)
	note := ""
	if o.err == nil && o.resp.Status == eas.PingHeartbeatOutOfRange && o.resp.HeartbeatInterval > 0 {
		note = fmt.Sprintf("the server refused %d s (Status 5) and allows %d s; ", hb, o.resp.HeartbeatInterval)
		hb = o.resp.HeartbeatInterval
		o = v.pingOnce(ctx, f, hb, nil)
	}
	if o.err != nil {
		what, do := pingEnd(o, hb)
		v.add("ping", Fail, fmt.Sprintf("%sPing of %d s: %s", note, hb, what), do)
		return false
	}
	detail := fmt.Sprintf("%sPing of %d s answered Status %d (%v) after %.1f s", note, hb, o.resp.Status, o.resp.Status, o.held.Seconds())
	switch o.resp.Status {
	case eas.PingExpired:
		f.accepted = hb
		if note != "" {
			v.add("ping", Warn, detail, "devices adjust to the server's bounds; choose --heartbeat within them")
			return true
		}
		v.add("ping", Pass, detail, "")
		return true
	case eas.PingChanges:
		f.accepted = hb
		v.add("ping", Warn, detail+": mail arrived meanwhile, so the heartbeat itself was not seen to expire", "run verify again on a quiet mailbox to see a heartbeat expire")
		return true
	}
	v.add("ping", Fail, detail, "the server refused a Ping a device would send; its log says why")
	return false
}

// cutAdvice is what to do about a held Ping that something cut.
const cutAdvice = "something cut the held connection: run with --ladder to find how long the path keeps idle connections, and raise the idle timeout of firewalls, NAT and load balancers to at least 1800 s"

// pingEnd says how a Ping without an answer ended, and what to do.
func pingEnd(o pingOutcome, hb int) (what, do string) {
	if he, ok := isProxyError(o.err); ok {
		what := "a proxy timeout"
		if he.StatusCode == http.StatusBadGateway {
			what = "a proxy timeout, or a proxy that lost the server"
		}
		return fmt.Sprintf("HTTP %d %s after %.1f s, before the heartbeat ended: %s", he.StatusCode, http.StatusText(he.StatusCode), o.held.Seconds(), what), proxyAdvice
	}
	var he *eas.HTTPError
	if errors.As(o.err, &he) {
		return fmt.Sprintf("answered HTTP %d %s after %.1f s", he.StatusCode, http.StatusText(he.StatusCode), o.held.Seconds()), httpAdvice(o.err)
	}
	if errors.Is(o.err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %d s (heartbeat + 15 s): the connection was dropped silently", int(eas.PingTimeout(time.Duration(hb)*time.Second)/time.Second)), cutAdvice
	}
	return fmt.Sprintf("connection closed after %.1f s, before the heartbeat ended: %v", o.held.Seconds(), o.err), cutAdvice
}

// PushResult is the push-latency measurement.
type PushResult struct {
	// Latency is from the delivery request to the Ping's Status 2.
	Latency time.Duration `json:"latency_ns"`
	// Woken is how many held Pings the server said it woke.
	Woken int `json:"woken"`
	// Fetched is how many items the Sync after the Ping brought.
	Fetched int `json:"fetched"`
}

// push holds a Ping, has a test message delivered, and measures how long
// the Ping takes to answer Status 2; then it syncs the message as a device
// would.
func (v *verifier) push(ctx context.Context, f *flow) {
	// Long enough to still be held when the message comes; the ping check
	// found a heartbeat the server accepts.
	hb := max(f.accepted, 60)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	for attempt := 0; ; attempt++ {
		wrote := make(chan struct{})
		done := make(chan pingOutcome, 1)
		go func() { done <- v.pingOnce(ctx, f, hb, func() { close(wrote) }) }()
		var early *pingOutcome
		select {
		case <-wrote:
			select {
			case o := <-done:
				early = &o
			case <-time.After(parkDelay):
			}
		case o := <-done:
			early = &o
		}
		if early != nil {
			if attempt == 0 && early.err == nil && early.resp.Status == eas.PingHeartbeatOutOfRange && early.resp.HeartbeatInterval > 0 {
				hb = early.resp.HeartbeatInterval
				continue
			}
			v.add("push", Fail, "the Ping for the measurement ended before a message was delivered: "+outcomeText(*early, hb), "see the ping check")
			return
		}
		v.measurePush(ctx, f, hb, done, stop)
		return
	}
}

// measurePush delivers while the Ping is held; stop ends the Ping when
// there is nothing to wait for.
func (v *verifier) measurePush(ctx context.Context, f *flow, hb int, done <-chan pingOutcome, stop func()) {
	dctx, cancel := context.WithTimeout(ctx, deliverTimeout)
	start := time.Now()
	woken, err := v.opt.Deliver(dctx)
	cancel()
	if err != nil {
		v.add("push", Fail, "delivering the test message: "+err.Error(),
			"check --admin (the admin address pushca serve printed) and --admin-token-file (push/admin.token in its state directory)")
		stop()
		<-done
		return
	}
	o := <-done
	latency := time.Since(start)
	if o.err != nil || o.resp.Status != eas.PingChanges {
		v.add("push", Fail, fmt.Sprintf("message delivered (the admin API's own server held %d Ping(s) of the user) but the held Ping %s", woken, outcomeText(o, hb)),
			"the server stored the message but did not answer the held Ping: check that the Ping watches the Inbox and the server's log")
		return
	}
	items, _, err := v.syncAll(ctx, f)
	res := &PushResult{Latency: latency, Woken: woken, Fetched: items}
	v.report.Push = res
	if err != nil {
		v.add("push", Fail, fmt.Sprintf("Ping answered Status 2 %v after delivery, but the Sync that follows failed: %v", latency.Round(time.Millisecond), err), httpAdvice(err))
		return
	}
	v.add("push", Pass, fmt.Sprintf("Ping answered Status 2 %v after the message was delivered (the admin API's own server held %d Ping(s) of the user); Sync fetched %d item(s)",
		latency.Round(time.Millisecond), woken, items), "")
}

func outcomeText(o pingOutcome, hb int) string {
	if o.err != nil {
		what, _ := pingEnd(o, hb)
		return what
	}
	return fmt.Sprintf("answered Status %d (%v) after %.1f s", o.resp.Status, o.resp.Status, o.held.Seconds())
}
