package eas

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestParseQueryBase64Vectors(t *testing.T) {
	cases := []struct {
		raw  string
		want Request
	}{
		// [MS-ASHTTP] example, from shared/reference/test-vectors.md.
		{"jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", Request{
			Cmd: "Sync", Version: "14.0", Locale: 0x0409, DeviceID: "v140Device",
			DeviceType: "SmartPhone", Base64: true}},
		{"jQkJBBABI0VniavN7wEjRWeJq83vAApTbWFydFBob25lCAR0ZXN0", Request{
			Cmd: "FolderSync", Version: "14.1", Locale: 0x0409,
			DeviceID: "0123456789abcdef0123456789abcdef", DeviceType: "SmartPhone",
			User: "test", Base64: true}},
	}
	for _, c := range cases {
		got, err := ParseQuery(c.raw, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.raw, err)
		}
		if *got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.raw, *got, c.want)
		}
		enc, _, err := got.Encode()
		if err != nil || enc != c.raw {
			t.Errorf("re-encode: %q, %v; want %q", enc, err, c.raw)
		}
	}
}

func TestBase64QueryRoundTrip(t *testing.T) {
	q := Request{Cmd: "SendMail", Version: "16.1", Locale: 0x0407, DeviceID: "Appl5K14358AA4S",
		DeviceType: "iPhone", PolicyKey: 3942919513, HasPolicyKey: true, User: `corp\alice`,
		AttachmentName: "a/b", CollectionID: "7", ItemID: "7:1", LongID: "RgAAAA+/=",
		Occurrence: "x", SaveInSent: true, AcceptMultiPart: true, Base64: true}
	raw, h, err := q.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// A URL carries it escaped; parse it back through net/http as a server would.
	r, err := http.NewRequest("POST", "https://mail.example"+Path+"?"+raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header = h
	got, err := ParseRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if *got != q {
		t.Fatalf("got %+v\nwant %+v", *got, q)
	}
}

func TestParseQueryPlain(t *testing.T) {
	h := http.Header{}
	h.Set("MS-ASProtocolVersion", "2.5")
	got, err := ParseQuery("Cmd=Ping&User=alice&DeviceId=ABC123&DeviceType=PocketPC", h)
	if err != nil {
		t.Fatal(err)
	}
	want := Request{Cmd: "Ping", User: "alice", DeviceID: "ABC123", DeviceType: "PocketPC", Version: "2.5"}
	if *got != want {
		t.Fatalf("got %+v", *got)
	}
	h.Set("X-MS-PolicyKey", "515170180")
	h.Set("MS-ASProtocolVersion", "12.0")
	got, err = ParseQuery("Cmd=SendMail&User=CORP%5Calice&DeviceId=ABC123&DeviceType=PocketPC&SaveInSent=T&CollectionId=5", h)
	if err != nil {
		t.Fatal(err)
	}
	want = Request{Cmd: "SendMail", User: `CORP\alice`, DeviceID: "ABC123", DeviceType: "PocketPC",
		Version: "12.0", PolicyKey: 515170180, HasPolicyKey: true, SaveInSent: true, CollectionID: "5"}
	if *got != want {
		t.Fatalf("got %+v", *got)
	}
	raw, hh, err := got.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseQuery(raw, hh)
	if err != nil || *again != want {
		t.Fatalf("round trip %q: %+v, %v", raw, again, err)
	}
}

func TestParseQueryErrors(t *testing.T) {
	v25 := http.Header{"Ms-Asprotocolversion": {"2.5"}}
	cases := []struct {
		raw   string
		h     http.Header
		field string
	}{
		{"", v25, "Cmd"},
		{"Cmd=Ping&DeviceId=A&DeviceType=B", nil, "MS-ASProtocolVersion"},
		{"Cmd=Ping&DeviceId=A&DeviceType=B", http.Header{"Ms-Asprotocolversion": {"3.0"}}, "MS-ASProtocolVersion"},
		{"Cmd=Dance&DeviceId=A&DeviceType=B", v25, "Cmd"},
		{"Cmd=Ping&DeviceType=B", v25, "DeviceId"},
		{"Cmd=Ping&DeviceId=A&DeviceId=C&DeviceType=B", v25, "DeviceId"},
		{"Cmd=Ping&DeviceId=..%2F..&DeviceType=B", v25, "DeviceId"},
		{"Cmd=Ping&DeviceId=" + strings.Repeat("a", 65) + "&DeviceType=B", v25, "DeviceId"},
		{"Cmd=Ping&DeviceId=A", v25, "DeviceType"},
		{"Cmd=Ping&DeviceId=A&DeviceType=B&SaveInSent=yes", v25, "SaveInSent"},
		{"Cmd=Ping&DeviceId=A&DeviceType=B", http.Header{"Ms-Asprotocolversion": {"2.5"}, "X-Ms-Policykey": {"-1"}}, "X-MS-PolicyKey"},
		{"!!!", nil, "base64"},
		{"jAAJBAp2MTQwRGV2aWNl", nil, "PolicyKeyLen"},                    // cut after the device id
		{"jAAJBAp2MTQwRGV2aWNlAApTbWFydA", nil, "DeviceType"},            // device type cut short
		{"GQAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", nil, "ProtocolVersion"}, // 2.5 in base64
		{"jGQJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", nil, "CommandCode"},     // code 100
		{"jAAJBAp2MTQwRGV2aWNlAwECAwpTbWFydFBob25l", nil, "PolicyKeyLen"},
		{"jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25lBwIBAQ", nil, "Options"},
		{"jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25lCAV0ZXN0", nil, "parameter 8"},
		{strings.Repeat("A", 3000), nil, "query"},
		{"Cmd=Ping&DeviceId=%zz&DeviceType=B", v25, "query"},
		{"User=a&DeviceId=A&DeviceType=B", v25, "Cmd"},
	}
	for _, c := range cases {
		_, err := ParseQuery(c.raw, c.h)
		var qe *QueryError
		if !errors.As(err, &qe) || qe.Field != c.field {
			t.Errorf("%q: got %v, want an error naming %s", c.raw, err, c.field)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	for _, c := range []struct {
		v, min string
		want   bool
	}{
		{"14.1", "14.0", true}, {"14.0", "14.0", true}, {"12.1", "14.0", false}, {"2.5", "12.0", false},
		{"16.1", "2.5", true}, {"9.9", "2.5", false}, {"", "2.5", false},
	} {
		if got := VersionAtLeast(c.v, c.min); got != c.want {
			t.Errorf("VersionAtLeast(%q, %q) = %v", c.v, c.min, got)
		}
	}
	if !UsesHTTP449("12.1") || UsesHTTP449("14.0") {
		t.Error("UsesHTTP449 wrong")
	}
}

func TestParseBasicAuth(t *testing.T) {
	cases := []struct {
		login, user, domain string
	}{
		{`alice`, "alice", ""},
		{`CORP\Alice`, "alice", "corp"},
		{`Alice@Corp.Example`, "alice", "corp.example"},
		{`CORP\alice@corp.example`, "alice", "corp"},
	}
	for _, c := range cases {
		got, err := ParseBasicAuth(BasicAuth(c.login, "pa:ss"))
		if err != nil {
			t.Fatalf("%s: %v", c.login, err)
		}
		if got.User != c.user || got.Domain != c.domain || got.Login != c.login || got.Password != "pa:ss" {
			t.Errorf("%s: got %#v %q %q", c.login, got, got.User, got.Domain)
		}
		if !got.PasswordEqual("pa:ss") || got.PasswordEqual("pa:sS") || got.PasswordEqual("") {
			t.Errorf("%s: PasswordEqual wrong", c.login)
		}
	}
	c, _ := ParseBasicAuth(BasicAuth(`CORP\alice`, "s3cret"))
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, c); strings.Contains(s, "s3cret") {
			t.Errorf("%s shows the password: %s", f, s)
		}
	}
	for _, bad := range []string{
		"", "Bearer abc", "Basic !!!", "Basic " + b64("nocolon"), BasicAuth(`\alice`, "x"),
		BasicAuth(`a\b\c`, "x"), BasicAuth("@corp", "x"), BasicAuth("alice@", "x"),
		BasicAuth("al\x00ice", "x"), BasicAuth("", "x"), BasicAuth(strings.Repeat("a", 300), "x"),
		"Basic " + b64("\xff:x"), "Basic " + strings.Repeat("A", 5000),
	} {
		if c, err := ParseBasicAuth(bad); err == nil {
			t.Errorf("%q accepted as %q", bad, c.User)
		}
	}
	if _, err := ParseBasicAuth(""); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("empty header: %v", err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
