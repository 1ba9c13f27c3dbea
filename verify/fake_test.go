package verify

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/pushca/pushca/eas"
)

// policyMode is how a fakeEAS treats provisioning.
type policyMode int

const (
	// enforceOnKey asks for provisioning only of clients that send
	// X-MS-PolicyKey (0 or a stale key: HTTP 449 or Status 142), and lets a
	// client that sends none sync, as a server that lets clients without
	// policy support through does.
	enforceOnKey policyMode = iota
	// ignorePolicy never asks for provisioning.
	ignorePolicy
)

const (
	fakeTempKey  = 1307199584
	fakeFinalKey = 3942919513
	fakeInbox    = "5"
)

// fakeEAS is an ActiveSync server that is not pushca serve: enough of
// OPTIONS, Provision, FolderSync, GetItemEstimate, Sync and Ping for
// verify's flow, built from package eas's server-side half. Its Pings end
// at their heartbeat or when the client goes.
type fakeEAS struct {
	t      *testing.T
	policy policyMode

	mu   sync.Mutex
	seen []string // "Cmd key DeviceType" per command; key "-" when absent
	// pinged is closed when the first Ping arrives.
	pinged     chan struct{}
	pingedOnce sync.Once
}

func newFakeEAS(t *testing.T, policy policyMode) *fakeEAS {
	return &fakeEAS{t: t, policy: policy, pinged: make(chan struct{})}
}

func (f *fakeEAS) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func (f *fakeEAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != eas.Path {
		http.NotFound(w, r)
		return
	}
	cred, err := eas.ParseBasicAuth(r.Header.Get("Authorization"))
	if err != nil || cred.User != testUser || !cred.PasswordEqual(testPassword) {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+testHost+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodOptions {
		w.Header()[eas.HeaderProtocolVersions] = []string{"2.5,12.0,12.1,14.0,14.1"}
		w.Header()[eas.HeaderCommands] = []string{"Sync,FolderSync,GetItemEstimate,Ping,Provision"}
		return
	}
	q, err := eas.ParseRequest(r)
	if err != nil {
		f.t.Errorf("fake server: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	key := "-"
	if q.HasPolicyKey {
		key = fmt.Sprint(q.PolicyKey)
	}
	f.mu.Lock()
	f.seen = append(f.seen, q.Cmd+" "+key+" "+q.DeviceType)
	f.mu.Unlock()
	switch {
	case q.Cmd == "Provision":
		f.provision(w, q, body)
	case q.Cmd == "Ping":
		f.ping(w, r, body)
	case f.policy == enforceOnKey && q.HasPolicyKey && q.PolicyKey != fakeFinalKey:
		if eas.UsesHTTP449(q.Version) {
			w.WriteHeader(449)
			return
		}
		b, err := eas.StatusBody(q.Cmd, eas.StatusDeviceNotProvisioned)
		if err != nil {
			f.t.Error(err)
		}
		w.Write(b)
	default:
		f.command(w, q, body)
	}
}

func (f *fakeEAS) reply(w http.ResponseWriter, m eas.Message) {
	b, err := eas.Marshal(m)
	if err != nil {
		f.t.Errorf("fake server: %v", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", eas.ContentType)
	w.Write(b)
}

func (f *fakeEAS) provision(w http.ResponseWriter, q *eas.Request, body []byte) {
	req, err := eas.ParseProvisionRequest(body)
	if err != nil {
		f.t.Errorf("fake server: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ptype := eas.PolicyTypeFor(q.Version)
	if ack, ok := req.Acknowledgement(); ok {
		p := eas.Policy{PolicyType: ptype, Status: eas.PolicyOK, PolicyKey: fakeFinalKey}
		if ack.PolicyKey != fakeTempKey {
			p = eas.Policy{PolicyType: ptype, Status: eas.PolicyWrongKey}
		}
		f.reply(w, &eas.ProvisionResponse{Status: eas.ProvisionOK, Policies: []eas.Policy{p}})
		return
	}
	data := &eas.PolicyData{EASProvisionDoc: &eas.EASProvisionDoc{AttachmentsEnabled: true}}
	if ptype == eas.PolicyTypeWAP {
		data = &eas.PolicyData{WAP: "<wap-provisioningdoc/>"}
	}
	f.reply(w, &eas.ProvisionResponse{Status: eas.ProvisionOK,
		Policies: []eas.Policy{{PolicyType: ptype, Status: eas.PolicyOK, PolicyKey: fakeTempKey, Data: data}}})
}

func (f *fakeEAS) command(w http.ResponseWriter, q *eas.Request, body []byte) {
	switch q.Cmd {
	case "FolderSync":
		f.reply(w, &eas.FolderSyncResponse{Status: eas.FolderSyncOK, SyncKey: "1", Changes: &eas.FolderChanges{Count: 1,
			Add: []eas.Folder{{ServerID: fakeInbox, ParentID: "0", DisplayName: "Inbox", Type: eas.FolderInbox}}}})
	case "GetItemEstimate":
		f.reply(w, &eas.GetItemEstimateResponse{Responses: []eas.EstimateResponse{{Status: eas.EstimateOK,
			Collection: &eas.EstimateResult{CollectionID: fakeInbox}}}})
	case "Sync":
		req, err := eas.ParseSyncRequest(body)
		if err != nil || len(req.Collections) != 1 {
			f.t.Errorf("fake server: Sync %+v: %v", req, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.reply(w, &eas.SyncResponse{Collections: []eas.SyncCollectionResponse{{
			SyncKey: "2", CollectionID: req.Collections[0].CollectionID, Status: eas.SyncOK}}})
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// ping answers Status 1 when the heartbeat ends, as a quiet mailbox does.
func (f *fakeEAS) ping(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := eas.ParsePingRequest(body)
	if err != nil {
		f.reply(w, &eas.PingResponse{Status: eas.PingSyntaxError})
		return
	}
	f.pingedOnce.Do(func() { close(f.pinged) })
	select {
	case <-time.After(time.Duration(req.HeartbeatInterval) * time.Second):
		f.reply(w, &eas.PingResponse{Status: eas.PingExpired})
	case <-r.Context().Done():
	}
}

// serveTLS serves h over TLS 1.0 to 1.3 on loopback with kp, offering
// suites for TLS 1.0-1.2 (nil: Go's defaults); it stops when the test ends.
func serveTLS(t *testing.T, h http.Handler, kp tls.Certificate, suites []uint16) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	// Refused handshakes are what some tests are about, not noise.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS10, CipherSuites: suites}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// timingOutProxy is a TLS reverse proxy to the plain-HTTP backend that
// gives up on a response after wait and answers status, as nginx
// (proxy_read_timeout, 504) and Apache (ProxyTimeout, 502) do.
func timingOutProxy(t *testing.T, backend string, wait time.Duration, status int, kp tls.Certificate) string {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(target)
	p.Transport = &http.Transport{ResponseHeaderTimeout: wait}
	p.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><head><title>%d %s</title></head></html>\n", status, http.StatusText(status))
	}
	return serveTLS(t, p, kp, nil)
}
