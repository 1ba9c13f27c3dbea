package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/ping"
)

// logRecords are the JSON log lines in buf whose message is msg.
func logRecords(t *testing.T, buf *testtool.Buffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// startLoggedServer is startServer logging JSON at info, as serve does.
func startLoggedServer(t *testing.T, edit func(*Config)) (*testServer, *testtool.Buffer) {
	t.Helper()
	var buf testtool.Buffer
	ts := startServerWith(t, ping.HeartbeatBounds{Min: 1, Max: 3540}, func(c *Config) {
		c.Log = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		if edit != nil {
			edit(c)
		}
	})
	return ts, &buf
}

// post sends an ActiveSync POST with a hand-made query, as a client the
// eas package would refuse to be.
func (ts *testServer) post(t *testing.T, query, version, password string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+ts.HTTPSAddr()+ActiveSyncPath+"?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(`CORP\alice`, password)
	req.Header.Set(eas.HeaderProtocolVersion, version)
	resp, err := ts.client("14.1", "X", false).HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// find returns the record whose fields hold every pair of want.
func find(recs []map[string]any, want map[string]any) map[string]any {
	for _, r := range recs {
		ok := true
		for k, v := range want {
			if r[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

// TestRefusalsAreLogged reads the JSON log for a 400, a 501, a Status 142,
// a failed login and ActiveSync on plain HTTP, and finds in each the
// command, the device, the user (none read on plain HTTP), the status and a
// reason; the password is in none.
func TestRefusalsAreLogged(t *testing.T) {
	ts, buf := startLoggedServer(t, nil)
	if code := ts.post(t, "Cmd=FolderSync&User=alice&DeviceId=LOG400&DeviceType=PocketPC", "9.9", "secret"); code != http.StatusBadRequest {
		t.Fatalf("unknown version: HTTP %d", code)
	}
	if code := ts.post(t, "Cmd=SendMail&User=alice&DeviceId=LOG501&DeviceType=PocketPC", "14.1", "secret"); code != http.StatusNotImplemented {
		t.Fatalf("SendMail: HTTP %d", code)
	}
	var se *eas.StatusError
	if _, err := ts.client("14.1", "LOG142", false).FolderSync(context.Background(), eas.InitialSyncKey); !errors.As(err, &se) || se.Status != 142 {
		t.Fatalf("FolderSync before Provision: %v", err)
	}
	if code := ts.post(t, "Cmd=Ping&User=alice&DeviceId=LOG401&DeviceType=PocketPC", "14.1", "not-the-password"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: HTTP %d", code)
	}

	resp, err := http.Post("http://"+ts.HTTPAddr()+ActiveSyncPath+"?Cmd=Ping&User=alice&DeviceId=LOG403&DeviceType=PocketPC", "application/vnd.ms-sync.wbxml", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	refused, failed := logRecords(t, buf, "request refused"), logRecords(t, buf, "command failed")
	for _, c := range []struct {
		name string
		recs []map[string]any
		want map[string]any
	}{
		{"400", refused, map[string]any{"command": "FolderSync", "device": "LOG400", "user": "alice", "http_status": 400.0}},
		{"501", refused, map[string]any{"command": "SendMail", "device": "LOG501", "user": "alice", "http_status": 501.0}},
		{"142", failed, map[string]any{"command": "FolderSync", "device": "LOG142", "user": "alice", "http_status": 200.0, "eas_status": 142.0}},
		{"401", refused, map[string]any{"command": "Ping", "device": "LOG401", "user": "alice", "http_status": 401.0}},
		{"403 on plain HTTP", refused, map[string]any{"command": "Ping", "device": "LOG403", "user": "", "http_status": 403.0}},
	} {
		r := find(c.recs, c.want)
		if r == nil {
			t.Errorf("%s: no log line with %v in\n%s", c.name, c.want, buf)
			continue
		}
		if reason, _ := r["reason"].(string); reason == "" || r["level"] != "INFO" {
			t.Errorf("%s: %v: want a reason at INFO", c.name, r)
		}
	}
	if strings.Contains(buf.String(), "not-the-password") || strings.Contains(buf.String(), "secret") {
		t.Errorf("a password is in the log:\n%s", buf)
	}
}

// TestSettingsPartsAnswered checks the parts of Settings outside the 16.x
// flow: the 12.0-14.0 address form, an Oof Set and a bad body type refused,
// and a part this endpoint does not serve logged.
func TestSettingsPartsAnswered(t *testing.T) {
	ts, buf := startLoggedServer(t, func(c *Config) { c.Host = "mail.example.test" })
	ctx := context.Background()
	c := ts.client("14.0", "SET140", false)
	if _, err := c.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := c.Settings(ctx, &eas.SettingsRequest{UserInformation: &eas.UserInformationRequest{Get: true}})
	if err != nil {
		t.Fatal(err)
	}
	if ui := s.UserInformation; ui == nil || ui.Get == nil || ui.Get.Accounts != nil || ui.Get.EmailAddresses == nil ||
		strings.Join(ui.Get.EmailAddresses.SMTPAddresses, ",") != "alice@example.test" || ui.Get.EmailAddresses.Primary != "" {
		t.Fatalf("14.0 UserInformation (addresses straight under Get, from --host's domain): %+v", ui)
	}
	s, err = c.Settings(ctx, &eas.SettingsRequest{Oof: &eas.OofRequest{Set: &eas.OofSettings{State: eas.OofGlobal}}})
	if err != nil || s.Status != eas.SettingsOK || s.Oof == nil || s.Oof.Status != eas.SettingsAccessDenied {
		t.Fatalf("Oof Set: %+v %v", s, err)
	}
	s, err = c.Settings(ctx, &eas.SettingsRequest{Oof: &eas.OofRequest{Get: &eas.OofGet{BodyType: "RTF"}}})
	if err != nil || s.Oof == nil || s.Oof.Status != eas.SettingsInvalidArguments || s.Oof.Get != nil {
		t.Fatalf("Oof Get RTF: %+v %v", s, err)
	}
	body, err := eas.Encode(eas.NewElement("Settings:Settings", eas.NewElement("Settings:DevicePassword",
		eas.NewElement("Settings:Set", eas.TextElement("Settings:0x15", "recovery")))))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "https://"+ts.HTTPSAddr()+ActiveSyncPath+"?Cmd=Settings&User=alice&DeviceId=SET140&DeviceType=PocketPC", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("alice", "secret")
	req.Header.Set(eas.HeaderProtocolVersion, "14.0")
	req.Header.Set("X-MS-PolicyKey", strconv.FormatUint(uint64(c.PolicyKey()), 10))
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Settings with DevicePassword: HTTP %d", resp.StatusCode)
	}
	failed := logRecords(t, buf, "command failed")
	for _, want := range []map[string]any{
		{"command": "Settings", "device": "SET140", "eas_status": 3.0},
		{"command": "Settings", "device": "SET140", "eas_status": 5.0},
	} {
		if find(failed, want) == nil {
			t.Errorf("no log line with %v", want)
		}
	}
	if r := find(failed, map[string]any{"command": "Settings", "device": "SET140"}); r == nil ||
		!strings.Contains(buf.String(), "Settings:DevicePassword is not served") {
		t.Errorf("the skipped DevicePassword part is not logged:\n%s", buf)
	}
}
