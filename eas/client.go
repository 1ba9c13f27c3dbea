package eas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client talks to an ActiveSync server the way a device does. Set the
// exported fields before the first call; the policy key it learns from
// Provision is kept inside and safe for concurrent calls (a Ping may be held
// while another goroutine Syncs).
type Client struct {
	HTTP       *http.Client // nil means http.DefaultClient
	URL        string       // server base, e.g. https://mail.example.com; Path is appended
	Login      string       // DOMAIN\user or user@domain, sent in Authorization: Basic
	Password   string
	User       string // the query's User parameter; Login when empty
	DeviceID   string
	DeviceType string
	Version    string // protocol version to speak, e.g. "14.1"
	// Base64Query sends the base64 query form (only for 12.1 and later).
	Base64Query bool
	UserAgent   string
	// DeviceInformation goes with Provision from 14.1 on, as real clients send it.
	DeviceInformation *DeviceInformation
	// AutoProvision makes a command that is refused for want of provisioning
	// (HTTP 449, Status 142-144) run Provision and retry once.
	AutoProvision bool
	Limits        Limits // for responses; zero fields take DefaultLimits

	mu        sync.Mutex
	policyKey uint32
}

// PingTimeout is the socket timeout for a Ping with heartbeat: a device
// waits 15 s beyond the interval before it counts the connection as cut.
// Give Client.Ping a context with this deadline.
func PingTimeout(heartbeat time.Duration) time.Duration { return heartbeat + 15*time.Second }

// PolicyKey returns the key the client sends in X-MS-PolicyKey (0: none).
func (c *Client) PolicyKey() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.policyKey
}

// SetPolicyKey sets the key, e.g. one saved from an earlier run.
func (c *Client) SetPolicyKey(k uint32) {
	c.mu.Lock()
	c.policyKey = k
	c.mu.Unlock()
}

// ErrProvisionRequired matches (errors.Is) a refusal that asks the client to
// provision first: HTTP 449 or a response Status 142-144.
var ErrProvisionRequired = errors.New("eas: server requires provisioning")

// HTTPError is a non-200 answer.
type HTTPError struct {
	Cmd        string
	StatusCode int
	RetryAfter time.Duration // from Retry-After on 503
	Location   string        // from X-MS-Location on 451
	Realm      string        // the Basic realm of a 401's WWW-Authenticate
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("eas: %s: HTTP %d %s", e.Cmd, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Location != "" {
		s += ", redirected to " + e.Location
	}
	if e.RetryAfter > 0 {
		s += ", retry after " + e.RetryAfter.String()
	}
	return s
}

func (e *HTTPError) Is(target error) bool {
	return target == ErrProvisionRequired && e.StatusCode == 449
}

// StatusError is a response whose top-level Status is one of the common
// status codes (above 100) that end the command.
type StatusError struct {
	Cmd    string
	Status int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("eas: %s: status %d (%s)", e.Cmd, e.Status, statusText(nil, e.Status))
}

func (e *StatusError) Is(target error) bool {
	return target == ErrProvisionRequired && NeedsProvision(e.Status)
}

// ServerOptions is what OPTIONS reports.
type ServerOptions struct {
	Versions []string
	Commands []string
	Server   string // MS-Server-ActiveSync
}

// Options asks the server which versions and commands it supports.
func (c *Client) Options(ctx context.Context) (*ServerOptions, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, c.endpoint(""), nil)
	if err != nil {
		return nil, fmt.Errorf("eas: OPTIONS: %w", err)
	}
	c.setHeaders(req)
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("eas: OPTIONS: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return nil, httpError("OPTIONS", resp)
	}
	return &ServerOptions{
		Versions: splitList(resp.Header.Get(HeaderProtocolVersions)),
		Commands: splitList(resp.Header.Get(HeaderCommands)),
		Server:   resp.Header.Get("MS-Server-ActiveSync"),
	}, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ProvisionResult is the outcome of both phases.
type ProvisionResult struct {
	Policy    Policy // as phase 1 delivered it, with Data
	PolicyKey uint32 // final key, now used by the client
}

// Provision downloads the policy (phase 1) and acknowledges it (phase 2),
// leaving the final key in the client.
func (c *Client) Provision(ctx context.Context) (*ProvisionResult, error) {
	ptype := PolicyTypeFor(c.Version)
	first := &ProvisionRequest{Policies: []PolicyAck{{PolicyType: ptype}}}
	if c.DeviceInformation != nil && VersionAtLeast(c.Version, "14.1") {
		first.DeviceInformation = c.DeviceInformation
	}
	r1, err := call[ProvisionResponse](ctx, c, "Provision", first, false, noPolicyKey)
	if err != nil {
		return nil, err
	}
	p, err := acceptedPolicy(r1, ptype, "phase 1")
	if err != nil {
		return nil, err
	}
	if p.Status == PolicyNone {
		c.SetPolicyKey(p.PolicyKey)
		return &ProvisionResult{Policy: *p, PolicyKey: p.PolicyKey}, nil
	}
	ack := &ProvisionRequest{Policies: []PolicyAck{{PolicyType: ptype, PolicyKey: p.PolicyKey, Status: PolicyOK}}}
	// Phase 2 carries the temporary key in X-MS-PolicyKey as well.
	temporary := p.PolicyKey
	r2, err := call[ProvisionResponse](ctx, c, "Provision", ack, false, func() (uint32, bool) { return temporary, true })
	if err != nil {
		return nil, err
	}
	final, err := acceptedPolicy(r2, ptype, "phase 2")
	if err != nil {
		return nil, err
	}
	if final.Status != PolicyOK || final.PolicyKey == 0 {
		return nil, fmt.Errorf("eas: Provision phase 2: policy status %v, key %d", final.Status, final.PolicyKey)
	}
	c.SetPolicyKey(final.PolicyKey)
	return &ProvisionResult{Policy: *p, PolicyKey: final.PolicyKey}, nil
}

func acceptedPolicy(r *ProvisionResponse, ptype, phase string) (*Policy, error) {
	if r.Status != ProvisionOK {
		return nil, fmt.Errorf("eas: Provision %s: status %v", phase, r.Status)
	}
	for i := range r.Policies {
		if p := &r.Policies[i]; p.PolicyType == ptype {
			if p.Status != PolicyOK && p.Status != PolicyNone {
				return nil, fmt.Errorf("eas: Provision %s: policy status %v", phase, p.Status)
			}
			return p, nil
		}
	}
	return nil, fmt.Errorf("eas: Provision %s: no %s policy in the response", phase, ptype)
}

// FolderSync fetches hierarchy changes since syncKey (InitialSyncKey first).
func (c *Client) FolderSync(ctx context.Context, syncKey string) (*FolderSyncResponse, error) {
	return call[FolderSyncResponse](ctx, c, "FolderSync", &FolderSyncRequest{SyncKey: syncKey}, false, c.policyKeyHeader)
}

// GetItemEstimate asks how many items Sync would deliver.
func (c *Client) GetItemEstimate(ctx context.Context, r *GetItemEstimateRequest) (*GetItemEstimateResponse, error) {
	return call[GetItemEstimateResponse](ctx, c, "GetItemEstimate", r, false, c.policyKeyHeader)
}

// Sync runs one Sync; a nil request sends an empty body (12.1+: repeat the
// last request). An empty response comes back as a zero SyncResponse.
func (c *Client) Sync(ctx context.Context, r *SyncRequest) (*SyncResponse, error) {
	return call[SyncResponse](ctx, c, "Sync", r, true, c.policyKeyHeader)
}

// Settings sends device information.
func (c *Client) Settings(ctx context.Context, r *SettingsRequest) (*SettingsResponse, error) {
	return call[SettingsResponse](ctx, c, "Settings", r, false, c.policyKeyHeader)
}

// Ping holds a DirectPush long poll until the server answers or ctx ends;
// give ctx a deadline of PingTimeout(heartbeat). A nil request sends an
// empty body. Ping carries no policy key ([MS-ASHTTP]).
func (c *Client) Ping(ctx context.Context, r *PingRequest) (*PingResponse, error) {
	return call[PingResponse](ctx, c, "Ping", r, false, noPolicyKey)
}

// policyKeyHeader is the X-MS-PolicyKey of every command but Ping and the
// first Provision: 0 until the client is provisioned, as devices send it. A
// server may take a client that sends no key for one without policy support
// and let it sync, enforcing provisioning only on clients that send one.
func (c *Client) policyKeyHeader() (uint32, bool) { return c.PolicyKey(), true }

// noPolicyKey leaves X-MS-PolicyKey out: Ping and Provision phase 1.
func noPolicyKey() (uint32, bool) { return 0, false }

func call[T any, P interface {
	*T
	Message
}](ctx context.Context, c *Client, cmd string, req Message, emptyOK bool, policyKey func() (uint32, bool)) (*T, error) {
	var body []byte
	if req != nil && !reflect.ValueOf(req).IsNil() {
		var err error
		if body, err = Marshal(req); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		key, send := policyKey()
		p, err := roundTrip[T, P](ctx, c, cmd, body, emptyOK, key, send)
		if err == nil || !c.AutoProvision || attempt > 0 || cmd == "Provision" || !errors.Is(err, ErrProvisionRequired) {
			return p, err
		}
		if _, perr := c.Provision(ctx); perr != nil {
			return nil, fmt.Errorf("%w; provisioning again failed: %w", err, perr)
		}
	}
}

func roundTrip[T any, P interface {
	*T
	Message
}](ctx context.Context, c *Client, cmd string, body []byte, emptyOK bool, key uint32, sendKey bool) (*T, error) {
	q := Request{Cmd: cmd, User: c.User, DeviceID: c.DeviceID, DeviceType: c.DeviceType,
		Version: c.Version, PolicyKey: key, HasPolicyKey: sendKey, Locale: 0x0409,
		Base64: c.Base64Query}
	if q.User == "" {
		q.User = c.Login
	}
	raw, h, err := q.Encode()
	if err != nil {
		return nil, fmt.Errorf("eas: %s: %w", cmd, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(raw), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("eas: %s: %w", cmd, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	c.setHeaders(req)
	req.Header.Set("Content-Type", ContentType)
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("eas: %s: %w", cmd, err)
	}
	defer resp.Body.Close()
	lim := c.Limits.withDefaults()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(lim.MaxSize)+1))
	// Cancelled while the server held the request: whatever was read (an
	// error, or an empty body the server finished as the connection went)
	// is not the server's answer.
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("eas: %s: %w", cmd, cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("eas: %s: reading response: %w", cmd, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, httpError(cmd, resp)
	}
	p := P(new(T))
	if len(data) == 0 && emptyOK {
		return p, nil
	}
	root, err := lim.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("eas: %s response: %w", cmd, err)
	}
	// Common status codes (14.0+) come in the command's own Status element.
	for _, ch := range root.Children {
		if strings.HasSuffix(ch.Tag, ":Status") {
			if n, err := strconv.Atoi(ch.Text); err == nil && n > 100 {
				return nil, &StatusError{Cmd: cmd, Status: n}
			}
			break
		}
	}
	if err := FromElement(root, p); err != nil {
		return nil, err
	}
	return p, nil
}

func httpError(cmd string, resp *http.Response) error {
	e := &HTTPError{Cmd: cmd, StatusCode: resp.StatusCode, Location: resp.Header.Get("X-MS-Location")}
	if resp.StatusCode == http.StatusUnauthorized {
		e.Realm = basicRealm(resp.Header.Values("WWW-Authenticate"))
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func (c *Client) endpoint(rawQuery string) string {
	u := strings.TrimSuffix(c.URL, "/") + Path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	return u
}

// basicRealm is the realm of the Basic challenge among challenges, "" if
// none names one.
func basicRealm(challenges []string) string {
	for _, ch := range challenges {
		scheme, params, _ := strings.Cut(strings.TrimSpace(ch), " ")
		if !strings.EqualFold(scheme, "Basic") {
			continue
		}
		_, rest, ok := strings.Cut(params, `realm="`)
		if realm, _, closed := strings.Cut(rest, `"`); ok && closed {
			return realm
		}
	}
	return ""
}

// setHeaders sends credentials when the client has a login. Without one the
// request costs the server no failed login, and its 401 names the realm.
func (c *Client) setHeaders(req *http.Request) {
	if c.Login != "" {
		req.Header.Set("Authorization", BasicAuth(c.Login, c.Password))
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}
