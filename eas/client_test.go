package eas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a minimal ActiveSync server on loopback TLS, built from this
// package's server-side half (ParseRequest, ParseBasicAuth, ParseXxxRequest,
// Marshal) so the client is checked against the parsers push/ will use.
type fakeServer struct {
	t                 *testing.T
	tempKey, finalKey uint32
	mu                sync.Mutex
	log               []string
	deviceModel       string
	pingBodies        []int
	pingHeld          chan struct{} // closed when a "hold" Ping arrives
	pingDone          chan struct{} // closed when that Ping's handler returns
}

func newFakeServer(t *testing.T) (*fakeServer, *httptest.Server) {
	f := &fakeServer{t: t, tempKey: 1307199584, finalKey: 3942919513,
		pingHeld: make(chan struct{}), pingDone: make(chan struct{})}
	srv := httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeServer) record(s string) {
	f.mu.Lock()
	f.log = append(f.log, s)
	f.mu.Unlock()
}

func (f *fakeServer) reply(w http.ResponseWriter, m Message) {
	b, err := Marshal(m)
	if err != nil {
		f.t.Errorf("server marshal: %v", err)
		w.WriteHeader(500)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.Write(b)
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	cred, err := ParseBasicAuth(r.Header.Get("Authorization"))
	if err != nil || cred.User != "alice" || cred.Domain != "corp" || !cred.PasswordEqual("s3cret") {
		w.Header().Set("WWW-Authenticate", `Basic realm="pushca"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodOptions {
		w.Header().Set(HeaderProtocolVersions, "2.5,12.0,12.1,14.0,14.1")
		w.Header().Set(HeaderCommands, "Sync,FolderSync,GetItemEstimate,Ping,Provision,Settings")
		w.Header().Set("MS-Server-ActiveSync", "14.3")
		return
	}
	q, err := ParseRequest(r)
	if err != nil {
		f.t.Errorf("server: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	key := "-"
	if q.HasPolicyKey {
		key = fmt.Sprint(q.PolicyKey)
	}
	f.record(q.Cmd + " " + key)
	provisioned := q.PolicyKey == f.finalKey
	refuse := func() {
		if UsesHTTP449(q.Version) {
			w.WriteHeader(449)
			return
		}
		b, err := StatusBody(q.Cmd, StatusDeviceNotProvisioned)
		if err != nil {
			f.t.Error(err)
		}
		w.Write(b)
	}
	switch q.Cmd {
	case "Provision":
		req, err := ParseProvisionRequest(body)
		if err != nil {
			f.t.Errorf("server: %v", err)
			w.WriteHeader(400)
			return
		}
		ptype := PolicyTypeFor(q.Version)
		if ack, ok := req.Acknowledgement(); ok {
			if ack.PolicyKey != f.tempKey || q.PolicyKey != f.tempKey || ack.PolicyType != ptype {
				f.reply(w, &ProvisionResponse{Status: ProvisionOK, Policies: []Policy{{PolicyType: ptype, Status: PolicyWrongKey}}})
				return
			}
			f.reply(w, &ProvisionResponse{Status: ProvisionOK, Policies: []Policy{{PolicyType: ptype, Status: PolicyOK, PolicyKey: f.finalKey}}})
			return
		}
		if req.DeviceInformation != nil {
			f.mu.Lock()
			f.deviceModel = req.DeviceInformation.Model
			f.mu.Unlock()
		}
		data := &PolicyData{EASProvisionDoc: &EASProvisionDoc{DevicePasswordEnabled: true, MinDevicePasswordLength: 4}}
		if ptype == PolicyTypeWAP {
			data = &PolicyData{WAP: "<wap-provisioningdoc/>"}
		}
		f.reply(w, &ProvisionResponse{Status: ProvisionOK, Policies: []Policy{{PolicyType: ptype, Status: PolicyOK, PolicyKey: f.tempKey, Data: data}}})
	case "FolderSync":
		if !provisioned {
			refuse()
			return
		}
		if _, err := ParseFolderSyncRequest(body); err != nil {
			f.t.Errorf("server: %v", err)
		}
		f.reply(w, &FolderSyncResponse{Status: FolderSyncOK, SyncKey: "1", Changes: &FolderChanges{Count: 1,
			Add: []Folder{{ServerID: "1", ParentID: "0", DisplayName: "Inbox", Type: FolderInbox}}}})
	case "GetItemEstimate":
		req, err := ParseGetItemEstimateRequest(body)
		if err != nil || len(req.Collections) != 1 {
			f.t.Errorf("server: %v %+v", err, req)
			return
		}
		f.reply(w, &GetItemEstimateResponse{Responses: []EstimateResponse{{Status: EstimateOK,
			Collection: &EstimateResult{CollectionID: req.Collections[0].CollectionID, Estimate: 25}}}})
	case "Sync":
		if _, err := ParseSyncRequest(body); err != nil {
			f.t.Errorf("server: %v", err)
		}
		// An empty 200 answer: nothing changed.
	case "Ping":
		req, err := ParsePingRequest(body)
		if err != nil {
			f.t.Errorf("server: %v", err)
			return
		}
		f.mu.Lock()
		f.pingBodies = append(f.pingBodies, len(body))
		f.mu.Unlock()
		switch {
		case len(req.Folders) == 0:
			f.reply(w, &PingResponse{Status: PingMissingParameters})
		case req.Folders[0].ID == "hold":
			defer close(f.pingDone)
			close(f.pingHeld)
			<-r.Context().Done()
		default:
			f.reply(w, &PingResponse{Status: PingChanges, Folders: []string{req.Folders[0].ID}})
		}
	case "Settings":
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	case "SendMail":
		w.Header().Set("X-MS-Location", "https://other.example/Microsoft-Server-ActiveSync")
		w.WriteHeader(451)
	}
}

func newTestClient(srv *httptest.Server, version string, base64 bool) *Client {
	return &Client{HTTP: srv.Client(), URL: srv.URL, Login: `CORP\Alice`, Password: "s3cret",
		DeviceID: "0123456789abcdef0123456789abcdef", DeviceType: "PocketPC", Version: version,
		Base64Query: base64, UserAgent: "pushca-test", AutoProvision: true,
		DeviceInformation: &DeviceInformation{Model: "pushca-emulator"}}
}

func TestClientProvisionsWhenRefused(t *testing.T) {
	for _, c := range []struct {
		version string
		base64  bool
		model   string // DeviceInformation is sent from 14.1 on
	}{
		{"2.5", false, ""},
		{"12.1", false, ""},
		{"12.1", true, ""},
		{"14.1", true, "pushca-emulator"},
		{"14.0", false, ""},
	} {
		t.Run(fmt.Sprintf("%s base64=%v", c.version, c.base64), func(t *testing.T) {
			f, srv := newFakeServer(t)
			cl := newTestClient(srv, c.version, c.base64)
			resp, err := cl.FolderSync(t.Context(), InitialSyncKey)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != FolderSyncOK || len(resp.Changes.Add) != 1 || resp.Changes.Add[0].DisplayName != "Inbox" {
				t.Fatalf("FolderSync: %+v", resp)
			}
			// The first FolderSync carries X-MS-PolicyKey 0, as a device's
			// does: a server may let a client that sends none sync unprovisioned.
			want := []string{"FolderSync 0", "Provision -", "Provision 1307199584", "FolderSync 3942919513"}
			if !slices.Equal(f.log, want) {
				t.Fatalf("requests %q, want %q", f.log, want)
			}
			if cl.PolicyKey() != f.finalKey || f.deviceModel != c.model {
				t.Fatalf("key %d, model %q", cl.PolicyKey(), f.deviceModel)
			}
		})
	}
}

// TestAnonymousOptionsNamesTheRealm: a client without a login sends no
// Authorization header, and the 401 tells which realm the server is.
func TestAnonymousOptionsNamesTheRealm(t *testing.T) {
	_, srv := newFakeServer(t)
	cl := &Client{HTTP: srv.Client(), URL: srv.URL}
	_, err := cl.Options(t.Context())
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized || he.Realm != "pushca" {
		t.Fatalf("anonymous OPTIONS: %#v", err)
	}
	for challenge, want := range map[string]string{
		`Basic realm="pushca ActiveSync"`: "pushca ActiveSync",
		`Negotiate`:                       "",
		`basic charset="UTF-8", realm="mail.example.com"`: "mail.example.com",
		`Basic realm="unterminated`:                       "",
	} {
		if got := basicRealm([]string{challenge}); got != want {
			t.Errorf("basicRealm(%q) = %q, want %q", challenge, got, want)
		}
	}
}

func TestClientWithoutAutoProvision(t *testing.T) {
	for _, v := range []string{"12.1", "14.1"} {
		_, srv := newFakeServer(t)
		cl := newTestClient(srv, v, false)
		cl.AutoProvision = false
		_, err := cl.FolderSync(t.Context(), InitialSyncKey)
		if !errors.Is(err, ErrProvisionRequired) {
			t.Fatalf("%s: %v", v, err)
		}
		res, err := cl.Provision(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if res.PolicyKey != 3942919513 || res.Policy.Data == nil || res.Policy.Data.EASProvisionDoc.MinDevicePasswordLength != 4 {
			t.Fatalf("%+v", res)
		}
	}
}

func TestClientCommands(t *testing.T) {
	f, srv := newFakeServer(t)
	cl := newTestClient(srv, "14.1", true)
	cl.SetPolicyKey(f.finalKey)
	ctx := t.Context()

	opts, err := cl.Options(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(opts.Versions, "14.1") || !slices.Contains(opts.Commands, "Ping") || opts.Server != "14.3" {
		t.Fatalf("options %+v", opts)
	}
	est, err := cl.GetItemEstimate(ctx, &GetItemEstimateRequest{Collections: []EstimateCollection{{SyncKey: "1", CollectionID: "1"}}})
	if err != nil || est.Responses[0].Collection.Estimate != 25 {
		t.Fatalf("estimate %+v, %v", est, err)
	}
	sr, err := cl.Sync(ctx, &SyncRequest{Collections: []SyncCollection{{SyncKey: "1", CollectionID: "1"}}})
	if err != nil || !reflect.DeepEqual(sr, &SyncResponse{}) {
		t.Fatalf("empty sync response: %+v, %v", sr, err)
	}
	if _, err := cl.Sync(ctx, nil); err != nil {
		t.Fatalf("empty sync request: %v", err)
	}
	pr, err := cl.Ping(ctx, &PingRequest{HeartbeatInterval: 470, Folders: []PingFolder{{ID: "1", Class: "Email"}}})
	if err != nil || pr.Status != PingChanges || !slices.Equal(pr.Folders, []string{"1"}) {
		t.Fatalf("ping %+v, %v", pr, err)
	}
	pr, err = cl.Ping(ctx, nil)
	if err != nil || pr.Status != PingMissingParameters {
		t.Fatalf("empty ping %+v, %v", pr, err)
	}
	if f.pingBodies[1] != 0 {
		t.Fatalf("nil Ping request sent %d bytes", f.pingBodies[1])
	}
	want := []string{"GetItemEstimate 3942919513", "Sync 3942919513", "Sync 3942919513", "Ping -", "Ping -"}
	if !slices.Equal(f.log, want) {
		t.Fatalf("requests %q, want %q", f.log, want)
	}
}

func TestClientHTTPErrors(t *testing.T) {
	_, srv := newFakeServer(t)
	cl := newTestClient(srv, "14.1", false)
	_, err := cl.Settings(t.Context(), &SettingsRequest{DeviceInformation: &DeviceInformation{Model: "x"}})
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 503 || he.RetryAfter != 30*time.Second {
		t.Fatalf("503: %v", err)
	}
	cl.Password = "wrong"
	_, err = cl.FolderSync(t.Context(), "0")
	if !errors.As(err, &he) || he.StatusCode != 401 || errors.Is(err, ErrProvisionRequired) {
		t.Fatalf("401: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestClientPingCancel(t *testing.T) {
	f, srv := newFakeServer(t)
	cl := newTestClient(srv, "12.1", false)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := cl.Ping(ctx, &PingRequest{HeartbeatInterval: 480, Folders: []PingFolder{{ID: "hold", Class: "Email"}}})
		errc <- err
	}()
	<-f.pingHeld // the server holds the Ping: nothing is sent before the answer
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	<-f.pingDone // and the server saw the connection go
}

func TestPingTimeout(t *testing.T) {
	if got := PingTimeout(470 * time.Second); got != 485*time.Second {
		t.Fatal(got)
	}
}
