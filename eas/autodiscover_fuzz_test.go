package eas

import (
	"reflect"
	"testing"
	"time"
)

// FuzzParseAutodiscoverRequest: no panic, and an accepted request marshals
// to one that parses to the same request.
func FuzzParseAutodiscoverRequest(f *testing.F) {
	ok, err := (&AutodiscoverRequest{EMailAddress: "alice@example.com", AcceptableResponseSchema: MobileSyncResponseSchema}).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ok)
	f.Add([]byte(`<Autodiscover><Request><EMailAddress>a@b</EMailAddress></Request><Request/></Autodiscover>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY e "&e;&e;">]><Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseAutodiscoverRequest(data)
		if err != nil {
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("parsed request does not marshal: %v", err)
		}
		again, err := ParseAutodiscoverRequest(out)
		if err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip: %+v became %+v (%v)", r, again, err)
		}
	})
}

// FuzzParseAutodiscoverResponse: no panic on what a server (or anything on
// port 443) sends, and a parsed response marshals to one that reads back
// the same.
func FuzzParseAutodiscoverResponse(f *testing.F) {
	for _, r := range []*AutodiscoverResponse{
		{Culture: "en:us", DisplayName: "A", EMailAddress: "a@b", URL: "https://m/Microsoft-Server-ActiveSync"},
		{EMailAddress: "a@b", Redirect: "a@c"},
		{EMailAddress: "a@b", Error: &AutodiscoverError{Status: 2, Message: "m"}},
	} {
		b, err := r.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	fail, err := MarshalAutodiscoverFailure(AutodiscoverSchemaUnavailable, "no provider", time.Unix(0, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fail)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseAutodiscoverResponse(data)
		if err != nil {
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("parsed response does not marshal: %v", err)
		}
		again, err := ParseAutodiscoverResponse(out)
		if err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip: %+v became %+v (%v)", r, again, err)
		}
	})
}
