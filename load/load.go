package load

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushca/pushca/eas"
)

// Config says what to load and how hard. Every field without a default is
// required.
type Config struct {
	// URL of the server, https://127.0.0.1:8443; Connect the devices dial
	// instead of the URL's host, when set.
	URL string
	// ServerName is the name the certificate carries, when the URL's host
	// is an address.
	ServerName string
	// Roots are the only certificates trusted (SHA-1 chains included).
	Roots []*x509.Certificate
	// Login and Password are the crowd's account: all Devices Ping as this
	// one user, so one delivery to it is a broadcast.
	Login, Password string
	// ProbeLogin names the account of probe i (each one device, one push);
	// they share Password. Nil or Probes 0: no single-device latency.
	ProbeLogin func(i int) string
	Devices    int
	Probes     int
	// Sources are the local addresses devices dial from, in turn (127.0.0.2,
	// 127.0.0.3, ... so one address's ephemeral ports do not run out).
	// Empty: the system's choice.
	Sources []net.IP
	// Heartbeat of every Ping; default 1800 s, longer than a run, so Pings
	// answer only to pushes.
	Heartbeat time.Duration
	Version   string // default 14.1
	// Inbox is the folder id each Ping watches; default "1", pushca's.
	Inbox string
	// Instances are further endpoints of the same server, sharing its
	// state (several pushca serve on one PostgreSQL database, say): the
	// crowd and the probes are spread over URL and these in turn, and each
	// probe's push is delivered through the instance after its own, so
	// that every push timed crosses instances. The broadcast is delivered
	// through URL's.
	Instances []Instance
	// Deliver puts a message into user's Inbox through the server's
	// endpoint number instance: 0 is URL's, i is Instances[i-1].
	Deliver func(ctx context.Context, instance int, user string) error
	// Provision runs Provision on each device before its first Ping, as
	// pushca serve and Exchange require; a bare long-poll server does not.
	Provision bool
	// Server, when set, is read for memory and CPU.
	Server *Process
	// Settle, when set, is called before the memory is read, e.g. to make
	// the server collect garbage so the figure is memory after GC.
	Settle func() error
	// Idle is how long the idle CPU is sampled with every Ping held;
	// default 10 s.
	Idle time.Duration
	// Dialers bounds connections being opened at once; default 64.
	Dialers int
	// Broadcast, when set, is called just before the broadcast's delivery,
	// and the function it returns once the broadcast is over: to profile
	// the broadcast alone, say.
	Broadcast func() (done func())
	Log       *slog.Logger
}

// Instance is one more endpoint of the server under load.
type Instance struct {
	// URL is where devices dial it, https://127.0.0.1:9443.
	URL string
	// Server, when set with Config.Server, is read for memory and CPU too:
	// the figures are the sum over every endpoint's process.
	Server *Process
}

// Result is what a run measured.
type Result struct {
	Devices int `json:"devices"`
	// Held is the Pings held at once once every device had connected:
	// written and not answered.
	Held   int      `json:"held"`
	Errors int      `json:"errors"`
	First  []string `json:"first_errors,omitempty"` // up to 5, for the report
	// Before and HeldMemory are the server's resident memory before the
	// first connection and with every Ping held.
	Before     Memory `json:"memory_before"`
	HeldMemory Memory `json:"memory_held"`
	// IdleCPU is the share of one core the server used while every Ping
	// was held and nothing happened.
	IdleCPU   float64 `json:"idle_cpu_core_fraction"`
	Push      Latency `json:"push"`
	Broadcast Latency `json:"broadcast"`
	// Answered is how many held Pings answered the broadcast.
	Answered int           `json:"broadcast_answered"`
	Connect  time.Duration `json:"connect_ns"` // until every Ping was held
	// Instances is how many endpoints the devices were spread over.
	Instances int `json:"instances"`
}

// PerPing is the server memory each held Ping added, in bytes.
func (r *Result) PerPing() Memory {
	if r.Held == 0 || r.HeldMemory.RSS == 0 {
		return Memory{}
	}
	n := int64(r.Held)
	return Memory{RSS: (r.HeldMemory.RSS - r.Before.RSS) / n, Anon: (r.HeldMemory.Anon - r.Before.Anon) / n}
}

func (c *Config) defaults() error {
	if c.URL == "" || c.Login == "" || c.Deliver == nil || c.Devices < 1 {
		return errors.New("load: URL, Login, Deliver and at least one device are required")
	}
	for i, in := range c.Instances {
		if in.URL == "" {
			return fmt.Errorf("load: instance %d has no URL", i+1)
		}
		if c.Server != nil && in.Server == nil {
			return fmt.Errorf("load: instance %d (%s) has no process to measure beside the first one's: the memory figures would leave it out", i+1, in.URL)
		}
	}
	if c.Probes > 0 && c.ProbeLogin == nil {
		return errors.New("load: probes need ProbeLogin")
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 1800 * time.Second
	}
	if c.Version == "" {
		c.Version = "14.1"
	}
	if c.Inbox == "" {
		c.Inbox = "1"
	}
	if c.Idle == 0 {
		c.Idle = 10 * time.Second
	}
	if c.Dialers == 0 {
		c.Dialers = 64
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// run is one Run's shared state.
type run struct {
	cfg  Config
	held atomic.Int64

	mu    sync.Mutex
	res   *Result
	since time.Time // the broadcast's start, zero before
	// answers receives one value per crowd device that stops after the
	// broadcast began.
	answers chan struct{}
	late    []time.Duration
}

// Run loads the server and measures it. It returns when every step is done
// or ctx ends; the devices it opened are closed by then.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, res: &Result{Devices: cfg.Devices, Instances: 1 + len(cfg.Instances)}, answers: make(chan struct{}, cfg.Devices)}
	if procs := cfg.processes(); procs != nil {
		m, err := procs.Memory()
		if err != nil {
			return nil, err
		}
		r.res.Before = m
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	start := time.Now()
	dialers := make(chan struct{}, cfg.Dialers)
	for i := range cfg.Devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.crowd(ctx, i, dialers)
		}()
	}
	if err := r.waitHeld(ctx); err != nil {
		return r.res, err
	}
	r.res.Connect = time.Since(start)
	r.res.Held = int(r.held.Load())
	cfg.Log.Info("every Ping held", "devices", cfg.Devices, "errors", r.res.Errors, "took", r.res.Connect)
	if err := r.measureIdle(ctx); err != nil {
		return r.res, err
	}
	if err := r.probes(ctx); err != nil {
		return r.res, err
	}
	return r.res, r.broadcast(ctx)
}

// waitHeld returns once every device still alive has a Ping held.
func (r *run) waitHeld(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		r.mu.Lock()
		want := r.cfg.Devices - r.res.Errors
		r.mu.Unlock()
		if int(r.held.Load()) >= want {
			if want == 0 {
				return fmt.Errorf("load: every device failed; first: %v", r.res.First)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("load: %d of %d Pings held: %w", r.held.Load(), want, ctx.Err())
		case <-tick.C:
		}
	}
}

// measureIdle reads the server's memory with everything held, then its CPU
// over cfg.Idle.
func (r *run) measureIdle(ctx context.Context) error {
	p := r.cfg.processes()
	if p == nil {
		return nil
	}
	if r.cfg.Settle != nil {
		if err := r.cfg.Settle(); err != nil {
			return fmt.Errorf("load: settle the server: %w", err)
		}
	}
	if err := sleep(ctx, min(r.cfg.Idle, 3*time.Second)); err != nil {
		return err
	}
	m, err := p.Memory()
	if err != nil {
		return err
	}
	r.res.HeldMemory = m
	before, err := p.CPUSeconds()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := sleep(ctx, r.cfg.Idle); err != nil {
		return err
	}
	after, err := p.CPUSeconds()
	if err != nil {
		return err
	}
	r.res.IdleCPU = (after - before) / time.Since(t0).Seconds()
	return nil
}

// probes pushes to one probe device at a time while the crowd is held and
// times each push until its Ping answers.
func (r *run) probes(ctx context.Context) error {
	var samples []time.Duration
	for i := range r.cfg.Probes {
		d, err := r.probe(ctx, i)
		if err != nil {
			r.fail(err)
			continue
		}
		samples = append(samples, d)
	}
	r.res.Push = summarise(samples)
	if r.cfg.Probes > 0 && len(samples) == 0 {
		return fmt.Errorf("load: no probe answered; first errors: %v", r.res.First)
	}
	return nil
}

func (r *run) probe(ctx context.Context, i int) (time.Duration, error) {
	login := r.cfg.ProbeLogin(i)
	at := r.cfg.Devices + i
	c, closeDev := r.device(login, fmt.Sprintf("probe%d", i), at)
	defer closeDev()
	if err := r.provision(ctx, c); err != nil {
		return 0, fmt.Errorf("probe %s: %w", login, err)
	}
	ctx, cancel := context.WithTimeout(ctx, eas.PingTimeout(r.cfg.Heartbeat))
	defer cancel()
	got, early := r.parkProbe(ctx, c)
	if early != nil && early.err == nil && early.resp.Status == eas.PingChanges {
		// Messages of an earlier run: sync them, then hold.
		if err := r.catchUp(ctx, c); err != nil {
			return 0, fmt.Errorf("probe %s: %w", login, err)
		}
		got, early = r.parkProbe(ctx, c)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if early != nil {
		return 0, fmt.Errorf("probe %s: Ping answered before any push: %+v %v", login, early.resp, early.err)
	}
	start := time.Now()
	if err := r.cfg.Deliver(ctx, (r.instance(at)+1)%r.res.Instances, login); err != nil {
		return 0, fmt.Errorf("probe %s: deliver: %w", login, err)
	}
	a := <-got
	if a.err != nil {
		return 0, fmt.Errorf("probe %s: %w", login, a.err)
	}
	if a.resp.Status != eas.PingChanges {
		return 0, fmt.Errorf("probe %s: Ping status %d, want 2", login, a.resp.Status)
	}
	return a.at.Sub(start), nil
}

// probeAnswer is the answer to a probe's Ping.
type probeAnswer struct {
	resp *eas.PingResponse
	err  error
	at   time.Time
}

// parkProbe sends c's Ping and returns the channel its answer comes on,
// once the server has had a moment to park it; or the answer, when it
// came first.
func (r *run) parkProbe(ctx context.Context, c *eas.Client) (<-chan probeAnswer, *probeAnswer) {
	written := make(chan struct{})
	var once sync.Once
	got := make(chan probeAnswer, 1)
	go func() {
		resp, err := c.Ping(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(written) }) },
		}), r.pingRequest())
		got <- probeAnswer{resp, err, time.Now()}
	}()
	// Written is not yet parked: the server still authenticates. A quiet
	// moment after the write lets it park, so the push is not found
	// pending by a Ping still on its way in.
	select {
	case <-written:
	case a := <-got:
		return nil, &a
	}
	if err := sleep(ctx, 200*time.Millisecond); err != nil {
		return nil, &probeAnswer{err: err}
	}
	select {
	case a := <-got:
		return nil, &a
	default:
		return got, nil
	}
}

// broadcast delivers once to the crowd's user and times every held Ping's
// answer.
func (r *run) broadcast(ctx context.Context) error {
	want := int(r.held.Load())
	// The measuring side collects its garbage first: holding thousands of
	// clients it has a heap of hundreds of MiB, whose collection (0.5 s of
	// marking on one of the cores, seen with GODEBUG=gctrace=1) would
	// otherwise land inside the broadcast now and then and be timed as the
	// server's.
	runtime.GC()
	if r.cfg.Broadcast != nil {
		defer r.cfg.Broadcast()()
	}
	r.mu.Lock()
	r.since = time.Now()
	r.mu.Unlock()
	if err := r.cfg.Deliver(ctx, 0, r.cfg.Login); err != nil {
		return fmt.Errorf("load: broadcast: %w", err)
	}
	bound := time.NewTimer(time.Minute)
	defer bound.Stop()
	for n := 0; n < want; n++ {
		select {
		case <-r.answers:
		case <-bound.C:
			n = want
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Broadcast = summarise(r.late)
	r.res.Answered = len(r.late)
	if r.res.Answered < want {
		return fmt.Errorf("load: %d of %d held Pings answered the broadcast within a minute", r.res.Answered, want)
	}
	return nil
}

// crowd is one device: it holds a Ping, re-Pings when the heartbeat
// ends, and stops at the first push or error. After the push it keeps its
// connection until the run ends: a real device would Sync and Ping again
// on it, and closing thousands of connections at once would load both
// ends while the rest of the broadcast is still being timed.
func (r *run) crowd(ctx context.Context, i int, dialers chan struct{}) {
	stopped := sync.OnceFunc(func() {
		r.mu.Lock()
		after := !r.since.IsZero()
		r.mu.Unlock()
		if after {
			r.answers <- struct{}{}
		}
	})
	defer stopped()
	id := fmt.Sprintf("load%d", i)
	c, closeDev := r.device(r.cfg.Login, id, i)
	defer closeDev()
	select {
	case dialers <- struct{}{}:
	case <-ctx.Done():
		return
	}
	release := sync.OnceFunc(func() { <-dialers })
	defer release()
	if err := r.provision(ctx, c); err != nil {
		r.fail(fmt.Errorf("device %s: %w", id, err))
		return
	}
	caughtUp := false
	for range 1000 { // a bound; heartbeats outlast any run
		var wrote atomic.Bool
		pctx, cancel := context.WithTimeout(ctx, eas.PingTimeout(r.cfg.Heartbeat))
		resp, err := c.Ping(httptrace.WithClientTrace(pctx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) {
				if wrote.CompareAndSwap(false, true) {
					r.held.Add(1)
					release()
				}
			},
		}), r.pingRequest())
		at := time.Now()
		cancel()
		if wrote.Load() {
			r.held.Add(-1)
		}
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			r.fail(fmt.Errorf("device %s: %w", id, err))
			return
		case resp.Status == eas.PingChanges && !caughtUp && !r.broadcasting():
			// Messages of an earlier run: sync them, then hold.
			if err := r.catchUp(ctx, c); err != nil {
				r.fail(fmt.Errorf("device %s: %w", id, err))
				return
			}
			caughtUp = true
		case resp.Status == eas.PingChanges:
			r.mu.Lock()
			if !r.since.IsZero() {
				r.late = append(r.late, at.Sub(r.since))
			}
			r.mu.Unlock()
			stopped()
			<-ctx.Done()
			return
		case resp.Status != eas.PingExpired:
			r.fail(fmt.Errorf("device %s: Ping status %d", id, resp.Status))
			return
		}
	}
}

// broadcasting says whether the broadcast has been delivered.
func (r *run) broadcasting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.since.IsZero()
}

func (r *run) provision(ctx context.Context, c *eas.Client) error {
	if !r.cfg.Provision {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := c.Provision(ctx)
	return err
}

func (r *run) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Errors++
	if len(r.res.First) < 5 {
		r.res.First = append(r.res.First, err.Error())
	}
	r.cfg.Log.Debug("load error", "err", err)
}

func (r *run) pingRequest() *eas.PingRequest {
	return &eas.PingRequest{
		HeartbeatInterval: int(r.cfg.Heartbeat / time.Second),
		Folders:           []eas.PingFolder{{ID: r.cfg.Inbox, Class: "Email"}},
	}
}

// instance is the endpoint device number i (the crowd's, then the
// probes') talks to.
func (r *run) instance(i int) int { return i % r.res.Instances }

// device is phone number i: its own connection (a Transport allowed one)
// from its source address to its endpoint, so re-Pings reuse it as a
// device's keep-alive does.
func (r *run) device(login, id string, i int) (*eas.Client, func()) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if n := len(r.cfg.Sources); n > 0 {
		d.LocalAddr = &net.TCPAddr{IP: r.cfg.Sources[i%n]}
	}
	url := r.cfg.URL
	if k := r.instance(i); k > 0 {
		url = r.cfg.Instances[k-1].URL
	}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		TLSClientConfig:     tlsConfig(r.cfg.Roots, r.cfg.ServerName),
		TLSHandshakeTimeout: 10 * time.Second,
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	c := &eas.Client{
		HTTP: &http.Client{Transport: tr}, URL: url,
		Login: login, Password: r.cfg.Password,
		DeviceID: id, DeviceType: "PushcaLoad", Version: r.cfg.Version,
	}
	return c, tr.CloseIdleConnections
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Loopback returns n loopback source addresses from 127.0.0.2 on.
func Loopback(n int) []net.IP {
	out := make([]net.IP, 0, n)
	for i := range n {
		out = append(out, net.IPv4(127, 0, byte((i+2)>>8), byte(i+2)))
	}
	return out
}
