package push

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push/ping"
)

// autodiscoverPost sends body to the TLS listener's Autodiscover path with
// a Host header of the client's choosing, as anyone may send.
func (ts *testServer) autodiscoverPost(t *testing.T, body []byte, password string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+ts.HTTPSAddr()+"/Autodiscover/Autodiscover.xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "attacker.example"
	req.Header.Set("Content-Type", eas.AutodiscoverContentType)
	if password != "" {
		req.SetBasicAuth("alice@example.test", password)
	}
	resp, err := ts.client("14.1", "X", false).HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

func adRequest(t *testing.T, email, schema string) []byte {
	t.Helper()
	b, err := (&eas.AutodiscoverRequest{EMailAddress: email, AcceptableResponseSchema: schema}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// schemaValid checks a server answer against [MS-ASCMD] §6.4 with xmllint.
func schemaValid(t *testing.T, doc []byte) {
	t.Helper()
	xsd := filepath.Join("..", "eas", "testdata", "autodiscover", "AutodiscoverResponse.xsd")
	if _, stderr, err := testtool.Run(t, doc, "xmllint", "--noout", "--nonet", "--schema", xsd, "-"); err != nil {
		t.Errorf("answer not valid against the response schema:\n%s\n%s", doc, stderr)
	}
}

func TestAutodiscoverOverTLS(t *testing.T) {
	ts, buf := startLoggedServer(t, func(c *Config) { c.Host = "mail.example.test" })
	_, port, _ := net.SplitHostPort(ts.HTTPSAddr())
	wantURL := "https://mail.example.test:" + port + ActiveSyncPath

	code, doc := ts.autodiscoverPost(t, adRequest(t, "Alice@Example.TEST", eas.MobileSyncResponseSchema), "secret")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, doc)
	}
	schemaValid(t, doc)
	r, err := eas.ParseAutodiscoverResponse(doc)
	if err != nil || r.URL != wantURL || r.EMailAddress != "Alice@Example.TEST" || r.Error != nil {
		t.Fatalf("answer %+v, %v; want the configured URL %s, never the request's Host", r, err, wantURL)
	}

	for _, addr := range []string{"bob@example.test", "alice@elsewhere.test", "alice"} {
		_, doc := ts.autodiscoverPost(t, adRequest(t, addr, eas.MobileSyncResponseSchema), "secret")
		schemaValid(t, doc)
		r, err := eas.ParseAutodiscoverResponse(doc)
		if err != nil || r.Error == nil || r.Error.Status != eas.AutodiscoverProtocolError || r.URL != "" {
			t.Errorf("%s: %+v, %v; want the schema's Error", addr, r, err)
		}
	}

	var ae *eas.AutodiscoverError
	_, doc = ts.autodiscoverPost(t, adRequest(t, "alice@example.test", "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"), "secret")
	schemaValid(t, doc)
	if _, err := eas.ParseAutodiscoverResponse(doc); !errors.As(err, &ae) || ae.ErrorCode != eas.AutodiscoverSchemaUnavailable {
		t.Errorf("Outlook's schema: %v, want ErrorCode 601", err)
	}
	_, doc = ts.autodiscoverPost(t, []byte("<Autodiscover><Request/><Request/></Autodiscover>"), "secret")
	schemaValid(t, doc)
	if _, err := eas.ParseAutodiscoverResponse(doc); !errors.As(err, &ae) || ae.ErrorCode != eas.AutodiscoverInvalidRequest {
		t.Errorf("two Requests: %v, want ErrorCode 600", err)
	}

	if code, _ := ts.autodiscoverPost(t, adRequest(t, "alice@example.test", eas.MobileSyncResponseSchema), ""); code != http.StatusUnauthorized {
		t.Errorf("without credentials: HTTP %d, want 401", code)
	}
	failed := logRecords(t, buf, "command failed")
	for _, code := range []float64{eas.AutodiscoverSchemaUnavailable, eas.AutodiscoverInvalidRequest, eas.AutodiscoverProtocolError} {
		if find(failed, map[string]any{"command": "Autodiscover", "user": "alice", "eas_status": code}) == nil {
			t.Errorf("no log line for Autodiscover status %v:\n%s", code, buf)
		}
	}
}

// TestAutodiscoverRedirectOnPlainHTTP: a GET on the enrollment listener is
// sent to the configured HTTPS URL whatever Host it names; a POST there is
// refused before any credentials are read.
func TestAutodiscoverRedirectOnPlainHTTP(t *testing.T) {
	ts := startServerWith(t, ping.HeartbeatBounds{Min: 1, Max: 3540}, func(c *Config) { c.URL = "https://push.example.test" })
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(http.MethodGet, "http://"+ts.HTTPAddr()+eas.AutodiscoverPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "autodiscover.attacker.example"
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "https://push.example.test"+eas.AutodiscoverPath {
		t.Fatalf("GET: HTTP %d to %q", resp.StatusCode, loc)
	}
	resp, err = noFollow.Post("http://"+ts.HTTPAddr()+eas.AutodiscoverPath, "text/xml", strings.NewReader("<Autodiscover/>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST on plain HTTP: HTTP %d, want 403", resp.StatusCode)
	}
}
