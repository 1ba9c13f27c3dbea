package push

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/ping"
)

// rawPost sends one command as c would and returns the response body
// undecoded, for an outside decoder to read.
func (ts *testServer) rawPost(t *testing.T, c *eas.Client, cmd string, m eas.Message) []byte {
	t.Helper()
	q := eas.Request{Cmd: cmd, User: c.Login, DeviceID: c.DeviceID, DeviceType: c.DeviceType, Version: c.Version,
		PolicyKey: c.PolicyKey(), HasPolicyKey: true, Locale: 0x0409}
	raw, h, err := q.Encode()
	if err != nil {
		t.Fatal(err)
	}
	body, err := eas.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.URL+eas.Path+"?"+raw, bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", eas.BasicAuth(c.Login, c.Password))
	req.Header.Set("Content-Type", eas.ContentType)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := testtool.ReadBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != eas.ContentType {
		t.Fatalf("%s: %s %s", cmd, resp.Status, resp.Header.Get("Content-Type"))
	}
	return []byte(out)
}

// TestSyncBodyTagsWithLibwbxml has libwbxml, not eas, read a Sync response:
// a 2.5 device gets the body in Email:Body, a 12.0+ device in
// AirSyncBase:Body, and neither gets the other's tags.
func TestSyncBodyTagsWithLibwbxml(t *testing.T) {
	testtool.Path(t, "wbxml2xml")
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	ctx := context.Background()
	for _, v := range []string{"2.5", "12.0", "14.1"} {
		c := ts.client(v, "ORACLE"+strings.ReplaceAll(v, ".", ""), false)
		if _, err := c.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		prime, err := c.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{{Class: "Email", SyncKey: eas.InitialSyncKey, CollectionID: ping.InboxID}}})
		if err != nil {
			t.Fatal(err)
		}
		ts.deliver(t, "oracle "+v, "body text "+v)
		yes := true
		resp := ts.rawPost(t, c, "Sync", &eas.SyncRequest{Collections: []eas.SyncCollection{{
			Class: "Email", SyncKey: prime.Collections[0].SyncKey, CollectionID: ping.InboxID, GetChanges: &yes}}})
		file := filepath.Join(t.TempDir(), "sync.wbxml")
		writeFile(t, file, resp)
		xml := string(testtool.MustRun(t, nil, "wbxml2xml", "-m", "0", "-l", "ACTIVESYNC", "-o", "-", file))
		// Each device gets every message in the Inbox, its own among them.
		legacy := strings.Contains(xml, `<Body xmlns="Email:">body text `+v+`</Body>`)
		modern := strings.Contains(xml, `<Body xmlns="AirSyncBase:"><Type>1</Type>`) && strings.Contains(xml, `<Data>body text `+v+`</Data>`)
		if v == "2.5" && (!legacy || strings.Contains(xml, "AirSyncBase")) {
			t.Errorf("2.5 Sync must carry Email:Body only:\n%s", xml)
		}
		if v != "2.5" && (!modern || strings.Contains(xml, `<Body xmlns="Email:">`)) {
			t.Errorf("%s Sync must carry AirSyncBase:Body only:\n%s", v, xml)
		}
	}
}
