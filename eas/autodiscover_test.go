package eas

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

// xmllintValid validates doc against one of the [MS-ASCMD] §6.2-6.4
// schemas in testdata, with xmllint as the oracle.
func xmllintValid(t *testing.T, schema string, doc []byte) error {
	t.Helper()
	xsd := filepath.Join("testdata", "autodiscover", schema)
	_, stderr, err := testtool.Run(t, doc, "xmllint", "--noout", "--nonet", "--schema", xsd, "-")
	if err != nil {
		return errors.New(string(stderr))
	}
	return nil
}

func TestAutodiscoverDocumentsMatchSchemas(t *testing.T) {
	req, err := (&AutodiscoverRequest{EMailAddress: `o'brien&co@example.com`, AcceptableResponseSchema: MobileSyncResponseSchema}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := xmllintValid(t, "AutodiscoverRequest.xsd", req); err != nil {
		t.Fatalf("request:\n%s\n%s", req, err)
	}
	responses := map[string]*AutodiscoverResponse{
		"settings": {Culture: "en:us", DisplayName: "Alice <IT>", EMailAddress: "alice@example.com",
			URL: "https://mail.example.com/Microsoft-Server-ActiveSync"},
		"redirect": {Culture: "en:us", EMailAddress: "alice@example.com", Redirect: "alice@corp.example.com"},
		"error": {Culture: "en:us", EMailAddress: "bob@example.com", Error: &AutodiscoverError{
			Status: AutodiscoverProtocolError, Message: "no such address", DebugData: "MailUser"}},
	}
	for name, r := range responses {
		doc, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := xmllintValid(t, "AutodiscoverResponse.xsd", doc); err != nil {
			t.Errorf("%s response:\n%s\n%s", name, doc, err)
		}
		back, err := ParseAutodiscoverResponse(doc)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Errorf("%s response read back as %+v, %v", name, back, err)
		}
	}
	for _, code := range []int{AutodiscoverInvalidRequest, AutodiscoverSchemaUnavailable} {
		doc, err := MarshalAutodiscoverFailure(code, "a <message> & more", time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if err := xmllintValid(t, "AutodiscoverResponse.xsd", doc); err != nil {
			t.Errorf("failure %d:\n%s\n%s", code, doc, err)
		}
		if !strings.Contains(string(doc), `Time="03:04:05.0000006"`) {
			t.Errorf("failure %d: Time not in the schema's hh:mm:ss.fffffff form:\n%s", code, doc)
		}
		var ae *AutodiscoverError
		if _, err := ParseAutodiscoverResponse(doc); !errors.As(err, &ae) || ae.ErrorCode != code || ae.Message != "a <message> & more" {
			t.Errorf("failure %d read back as %v", code, err)
		}
	}
	// The oracle refuses what the schema does not allow, so the passes
	// above mean something.
	bad := strings.Replace(string(req), "<AcceptableResponseSchema>", "<Extra/><AcceptableResponseSchema>", 1)
	if xmllintValid(t, "AutodiscoverRequest.xsd", []byte(bad)) == nil {
		t.Fatal("xmllint accepted an element the request schema does not have")
	}
}

func TestParseAutodiscoverRequest(t *testing.T) {
	const ms = MobileSyncResponseSchema
	for _, c := range []struct {
		name, doc string
		want      *AutodiscoverRequest
	}{
		{"mobilesync", `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="` + AutodiscoverRequestSchema + `"><Request>` +
			`<EMailAddress> alice@example.com </EMailAddress><AcceptableResponseSchema>` + ms + `</AcceptableResponseSchema></Request></Autodiscover>`,
			&AutodiscoverRequest{EMailAddress: "alice@example.com", AcceptableResponseSchema: ms}},
		{"outlook namespace", `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>` +
			`<EMailAddress>a&amp;b@example.com</EMailAddress><AcceptableResponseSchema>` + ms + `</AcceptableResponseSchema></Request></Autodiscover>`,
			&AutodiscoverRequest{EMailAddress: "a&b@example.com", AcceptableResponseSchema: ms}},
		{"no schema named", `<Autodiscover><Request><EMailAddress>a@b</EMailAddress></Request></Autodiscover>`,
			&AutodiscoverRequest{EMailAddress: "a@b"}},
	} {
		got, err := ParseAutodiscoverRequest([]byte(c.doc))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, %v", c.name, got, err)
		}
	}
	for name, doc := range map[string]string{
		"two requests":  `<Autodiscover><Request><EMailAddress>a@b</EMailAddress></Request><Request><EMailAddress>c@d</EMailAddress></Request></Autodiscover>`,
		"no address":    `<Autodiscover><Request><AcceptableResponseSchema>` + ms + `</AcceptableResponseSchema></Request></Autodiscover>`,
		"empty address": `<Autodiscover><Request><EMailAddress> </EMailAddress></Request></Autodiscover>`,
		"not XML":       `EMailAddress=a@b`,
		"other root":    `<Discover><Request><EMailAddress>a@b</EMailAddress></Request></Discover>`,
		"too big":       `<Autodiscover>` + strings.Repeat(" ", MaxAutodiscoverSize) + `</Autodiscover>`,
	} {
		if _, err := ParseAutodiscoverRequest([]byte(doc)); !errors.Is(err, ErrAutodiscoverRequest) {
			t.Errorf("%s: %v, want ErrAutodiscoverRequest", name, err)
		}
	}
}

func TestParseAutodiscoverResponseRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"outlook schema": `<Autodiscover xmlns="` + autodiscoverResponseNS + `"><Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"><Account/></Response></Autodiscover>`,
		"wrong root":     `<Autodiscover xmlns="urn:other"><Response/></Autodiscover>`,
		"nothing said":   `<Autodiscover xmlns="` + autodiscoverResponseNS + `"><Response xmlns="` + MobileSyncResponseSchema + `"><Culture>en:us</Culture></Response></Autodiscover>`,
		"html":           `<html><body>It works!</body></html>`,
	} {
		if r, err := ParseAutodiscoverResponse([]byte(doc)); err == nil {
			t.Errorf("%s: read as %+v", name, r)
		}
	}
}
