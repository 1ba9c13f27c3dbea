package ops

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// maxAdminBody bounds an admin request; a test message needs little.
const maxAdminBody = 64 << 10

// Admin API paths.
const (
	AdminDeliverPath = "/v1/deliver"
	AdminDevicesPath = "/v1/devices"
)

// ReadToken returns the admin bearer token stored at path.
func ReadToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read admin token (written by the first `pushca serve`): %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if len(tok) < 32 {
		return "", fmt.Errorf("admin token %s is too short; delete it and restart `pushca serve` to get a new one", path)
	}
	return tok, nil
}

// LoadOrCreateToken returns the bearer token stored at path, generating a
// random one (0600) when the file does not exist.
func LoadOrCreateToken(path string) (string, error) {
	tok, err := ReadToken(path)
	if !errors.Is(err, os.ErrNotExist) {
		return tok, err
	}
	b := make([]byte, 32)
	rand.Read(b)
	tok = hex.EncodeToString(b)
	if err := atomicfile.WriteFile(path, []byte(tok+"\n"), atomicfile.FileMode); err != nil {
		return "", fmt.Errorf("save token %s: %w", path, err)
	}
	return tok, nil
}

// Token is a bearer token kept in a file. It is re-read on SIGHUP
// (Reload), so that a token replaced (or deleted, for a new random one)
// takes effect without a restart.
type Token struct {
	path string
	cur  atomic.Pointer[tokenValue]
}

type tokenValue struct {
	plain string
	sum   [sha256.Size]byte
}

// OpenToken reads the token at path, creating it when missing.
func OpenToken(path string) (*Token, error) {
	t := &Token{path: path}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload re-reads the file; on error the previous token stays.
func (t *Token) Reload() error {
	tok, err := LoadOrCreateToken(t.path)
	if err != nil {
		return err
	}
	t.cur.Store(&tokenValue{plain: tok, sum: sha256.Sum256([]byte(tok))})
	return nil
}

func (t *Token) String() string { return t.cur.Load().plain }

func (t *Token) matches(got string) bool { return tokenMatches(t.cur.Load().sum, got) }

// ListenLoopback listens on addr only when its host is a loopback address
// or "localhost": the admin API has no TLS and must not leave the machine.
func ListenLoopback(ctx context.Context, addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("admin address %q: %w", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("admin address %q: must be a loopback address such as 127.0.0.1:8444 (the admin API is plain HTTP)", addr)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	return ln, nil
}

// DeliverRequest is the body of POST /v1/deliver.
type DeliverRequest struct {
	User    string `json:"user"`
	From    string `json:"from,omitempty"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body,omitempty"`
}

// DeliverResult is its answer: the stored message and how many held Pings
// watch the user's Inbox (each answers Status 2 at once).
type DeliverResult struct {
	Message state.Message `json:"message"`
	Woken   int           `json:"woken"`
}

// ParseDeliverRequest decodes and checks a delivery request body.
func ParseDeliverRequest(data []byte) (DeliverRequest, error) {
	var req DeliverRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return DeliverRequest{}, fmt.Errorf("delivery request: %w", err)
	}
	if dec.More() {
		return DeliverRequest{}, errors.New("delivery request: trailing data after the JSON object")
	}
	user, err := state.NormalizeUser(req.User)
	if err != nil {
		return DeliverRequest{}, fmt.Errorf("delivery request: %w", err)
	}
	req.User = user
	if req.Subject == "" {
		req.Subject = "pushca test message"
	}
	if req.From == "" {
		req.From = "pushca <pushca@localhost>"
	}
	return req, nil
}

// Users says which users exist: those a test message may go to.
type Users interface {
	Has(name string) bool
}

type admin struct {
	token   *Token
	hub     *ping.Hub
	users   Users
	devices state.Devices
	log     *slog.Logger
}

// AdminHandler serves the admin API to holders of tok: deliveries through
// hub to users, and the device records.
func AdminHandler(tok *Token, hub *ping.Hub, users Users, devices state.Devices, m *Metrics, log *slog.Logger) http.Handler {
	a := &admin{token: tok, hub: hub, users: users, devices: devices, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+AdminDeliverPath, a.deliver)
	mux.HandleFunc("GET "+AdminDevicesPath, a.listDevices)
	return requireToken(realmAdmin, m, mux, tok)
}

// tokenMatches compares hashes of the tokens so the comparison takes the
// same time whatever the length or content of the presented one.
func tokenMatches(want [sha256.Size]byte, got string) bool {
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// requireToken lets through requests bearing one of tokens and counts the
// others as auth failures of realm. Every token is compared, so the time
// taken does not tell which one came close.
func requireToken(realm string, m *Metrics, next http.Handler, tokens ...*Token) http.Handler {
	var names []string
	for _, t := range tokens {
		names = append(names, filepath.Join(filepath.Base(filepath.Dir(t.path)), filepath.Base(t.path)))
	}
	need := fmt.Sprintf("bearer token required (in the state directory: %s)", strings.Join(names, " or "))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		match := false
		for _, t := range tokens {
			match = t.matches(got) || match
		}
		if !ok || !match {
			m.AuthFailed(realm)
			w.Header().Set("WWW-Authenticate", `Bearer realm="pushca `+realm+`"`)
			http.Error(w, need, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *admin) deliver(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	req, err := ParseDeliverRequest(data)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !a.users.Has(req.User) {
		http.Error(w, fmt.Sprintf("no user %s (add one with `pushca users add %s`)", req.User, req.User), http.StatusNotFound)
		return
	}
	m, woken, err := a.hub.Deliver(r.Context(), req.User, state.Message{From: req.From, To: req.User, Subject: req.Subject, Body: req.Body})
	if err != nil {
		a.log.Error("deliver a test message", "user", req.User, "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a.log.Info("test message delivered", "user", req.User, "id", m.ID, "pings_woken", woken)
	writeJSON(w, DeliverResult{Message: m, Woken: woken})
}

func (a *admin) listDevices(w http.ResponseWriter, r *http.Request) {
	devs, err := a.devices.List(r.Context())
	if err != nil {
		a.log.Error("list the device records", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, devs)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Deliver asks a running server's admin API (base URL such as
// http://127.0.0.1:8444) to deliver a test message.
func Deliver(ctx context.Context, base, token string, req DeliverRequest) (DeliverResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return DeliverResult{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+AdminDeliverPath, bytes.NewReader(body))
	if err != nil {
		return DeliverResult{}, fmt.Errorf("admin request: %w", err)
	}
	hreq.Header.Set("Authorization", "Bearer "+token)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return DeliverResult{}, fmt.Errorf("admin API at %s (is `pushca serve` running?): %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminBody))
	if err != nil {
		return DeliverResult{}, fmt.Errorf("admin API answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return DeliverResult{}, fmt.Errorf("admin API: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	var res DeliverResult
	if err := json.Unmarshal(data, &res); err != nil {
		return DeliverResult{}, fmt.Errorf("admin API answer: %w", err)
	}
	return res, nil
}

// maxDeviceList bounds the admin API's device list a client reads: each
// record carries up to the heartbeat alert's samples of Ping history, a
// few kilobytes, so this is room for tens of thousands of devices while a
// runaway answer cannot exhaust the client's memory.
const maxDeviceList = 256 << 20

// ListDevices asks a running server's admin API (base URL such as
// http://127.0.0.1:8444) for the device records GET /v1/devices lists:
// what a command reads instead of push/devices.db while the server holds
// that file (state.ReadBoltDevices).
func ListDevices(ctx context.Context, base, token string) ([]state.Device, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+AdminDevicesPath, nil)
	if err != nil {
		return nil, fmt.Errorf("admin request: %w", err)
	}
	hreq.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s (is `pushca serve` running?): %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAdminBody))
		return nil, fmt.Errorf("admin API at %s: %s: %s", base, resp.Status, strings.TrimSpace(string(data)))
	}
	devs, err := decodeDeviceList(resp.Body, maxDeviceList)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: device list: %w", base, err)
	}
	return devs, nil
}

// decodeDeviceList reads a JSON array of device records of at most max
// bytes. It streams, so the answer is never held twice, and refuses a
// record without user or id: every record the server keeps has both, so
// one without is not a device list.
func decodeDeviceList(r io.Reader, max int64) ([]state.Device, error) {
	lr := &io.LimitedReader{R: r, N: max + 1}
	tooLarge := func() error { return fmt.Errorf("larger than %d bytes", max) }
	dec := json.NewDecoder(lr)
	var devs []state.Device
	err := dec.Decode(&devs)
	if lr.N <= 0 {
		return nil, tooLarge()
	}
	if err != nil {
		return nil, err
	}
	if devs == nil {
		return nil, errors.New("not a JSON array")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if lr.N <= 0 {
			return nil, tooLarge()
		}
		return nil, errors.New("trailing data after the JSON array")
	}
	for i, d := range devs {
		if d.User == "" || d.ID == "" {
			return nil, fmt.Errorf("record %d has no user or device id", i)
		}
	}
	return devs, nil
}
