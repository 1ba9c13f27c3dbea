package eas

import (
	"bytes"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// seedDocs are every golden vector plus typed bodies of each command.
func seedDocs(f *testing.F) [][]byte {
	var out [][]byte
	for _, v := range goldenVectors {
		out = append(out, mustHex(f, v.hex))
	}
	mail := &Email{To: "a@b", From: "c@d", Subject: "s", DateReceived: time.Unix(0, 0), Read: new(true), MessageClass: MessageClassNote}
	if err := mail.SetBody("14.1", BodyPlain, "body", 0); err != nil {
		f.Fatal(err)
	}
	for _, m := range []Message{
		&ProvisionRequest{DeviceInformation: &DeviceInformation{Model: "m", EnableOutboundSMS: true}, Policies: []PolicyAck{{PolicyType: PolicyTypeWBXML}}},
		&ProvisionResponse{Status: ProvisionOK, Policies: []Policy{{PolicyType: PolicyTypeWBXML, Status: PolicyOK, PolicyKey: 1,
			Data: &PolicyData{EASProvisionDoc: &EASProvisionDoc{DevicePasswordEnabled: true, MinDevicePasswordLength: 4}}}}},
		&GetItemEstimateRequest{Collections: []EstimateCollection{{Class: "Email", SyncKey: "1", CollectionID: "1", FilterType: new(3)}}},
		&GetItemEstimateResponse{Responses: []EstimateResponse{{Status: EstimateOK, Collection: &EstimateResult{CollectionID: "1", Estimate: 2}}}},
		&SettingsRequest{DeviceInformation: &DeviceInformation{Model: "m", OS: "o"}},
		&SettingsResponse{Status: SettingsOK, DeviceInformationStatus: SettingsOK},
		&SettingsRequest{Oof: &OofRequest{Get: &OofGet{BodyType: OofBodyText}}, UserInformation: &UserInformationRequest{Get: true}},
		&SettingsResponse{Status: SettingsOK, Oof: &OofResponse{Status: SettingsOK, Get: DisabledOof(OofBodyHTML)},
			UserInformation: NewUserInformation("16.1", "Alice", []string{"alice@example.com", "a@example.org"})},
		&SettingsResponse{Status: SettingsOK, UserInformation: NewUserInformation("12.1", "", []string{"alice@example.com"})},
		&SyncRequest{Collections: []SyncCollection{{SyncKey: "1", CollectionID: "1", GetChanges: new(true),
			Commands: &SyncCommands{Change: []SyncItem{{ServerID: "1:1", ApplicationData: &Email{Read: new(true)}}}}}}},
		&SyncResponse{Collections: []SyncCollectionResponse{{SyncKey: "2", CollectionID: "1", Status: SyncOK, MoreAvailable: true,
			Commands: &SyncCommands{Add: []SyncItem{{ServerID: "1:1", ApplicationData: mail}}}}}},
	} {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzDecode: no panic, and whatever decodes re-encodes to a document that
// decodes to the same tree.
func FuzzDecode(f *testing.F) {
	for _, s := range seedDocs(f) {
		f.Add(s)
	}
	f.Add(mustHex(f, "03016a00000d4547c301310101"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := Decode(data)
		if err != nil {
			return
		}
		out, err := Encode(root)
		if err != nil {
			t.Fatalf("decoded tree does not encode: %v", err)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("re-encoded document does not decode: %v", err)
		}
		if !reflect.DeepEqual(root, again) {
			t.Fatalf("round trip changed the tree:\n%s\n%s", dump(root), dump(again))
		}
	})
}

// fuzzTyped checks a typed parser: no panic, and what it accepts marshals
// to bytes that parse and marshal to the same bytes again.
func fuzzTyped[T any, P interface {
	*T
	Message
}](f *testing.F, parse func([]byte) (*T, error)) {
	for _, s := range seedDocs(f) {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parse(data)
		if err != nil {
			return
		}
		m1, err := Marshal(P(v))
		if err != nil {
			t.Fatalf("parsed value does not marshal: %v", err)
		}
		v2, err := parse(m1)
		if err != nil {
			t.Fatalf("marshalled value does not parse: %v", err)
		}
		m2, err := Marshal(P(v2))
		if err != nil || !bytes.Equal(m1, m2) {
			t.Fatalf("not stable: %x vs %x (%v)", m1, m2, err)
		}
	})
}

func FuzzPingRequest(f *testing.F)       { fuzzTyped(f, ParsePingRequest) }
func FuzzFolderSyncRequest(f *testing.F) { fuzzTyped(f, ParseFolderSyncRequest) }
func FuzzProvisionRequest(f *testing.F)  { fuzzTyped(f, ParseProvisionRequest) }
func FuzzGetItemEstimateRequest(f *testing.F) {
	fuzzTyped(f, ParseGetItemEstimateRequest)
}
func FuzzSyncRequest(f *testing.F)       { fuzzTyped(f, ParseSyncRequest) }
func FuzzSettingsRequest(f *testing.F)   { fuzzTyped(f, ParseSettingsRequest) }
func FuzzSettingsResponse(f *testing.F)  { fuzzTyped(f, ParseSettingsResponse) }
func FuzzSyncResponse(f *testing.F)      { fuzzTyped(f, ParseSyncResponse) }
func FuzzProvisionResponse(f *testing.F) { fuzzTyped(f, ParseProvisionResponse) }

// FuzzParseQuery: no panic, and an accepted query encodes to one that parses
// to the same Request.
func FuzzParseQuery(f *testing.F) {
	f.Add("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", "")
	f.Add("jQkJBBABI0VniavN7wEjRWeJq83vAApTbWFydFBob25lCAR0ZXN0", "")
	f.Add("Cmd=Ping&User=alice&DeviceId=ABC123&DeviceType=PocketPC", "2.5")
	f.Add("Cmd=SendMail&User=a&DeviceId=A&DeviceType=B&SaveInSent=T&ItemId=1%3A2", "12.0")
	f.Fuzz(func(t *testing.T, raw, version string) {
		h := http.Header{}
		h.Set(HeaderProtocolVersion, version)
		q, err := ParseQuery(raw, h)
		if err != nil {
			return
		}
		raw2, h2, err := q.Encode()
		if err != nil {
			t.Fatalf("accepted %+v does not encode: %v", q, err)
		}
		q2, err := ParseQuery(raw2, h2)
		if err != nil {
			t.Fatalf("encoded %q does not parse: %v", raw2, err)
		}
		if *q2 != *q {
			t.Fatalf("round trip:\n%+v\n%+v", *q, *q2)
		}
	})
}

// FuzzParseBasicAuth: no panic; accepted credentials are normalised and
// survive being sent again.
func FuzzParseBasicAuth(f *testing.F) {
	for _, s := range []string{BasicAuth(`CORP\alice`, "pw"), BasicAuth("alice@corp.example", "p:w"), "Basic", "basic  Zm9vOmJhcg=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		c, err := ParseBasicAuth(header)
		if err != nil {
			return
		}
		if c.User == "" || len(c.Login) > maxUserLen {
			t.Fatalf("accepted %q", c.Login)
		}
		again, err := ParseBasicAuth(BasicAuth(c.Login, c.Password))
		if err != nil || again != c {
			t.Fatalf("re-sent credentials: %v, %v", again, err)
		}
	})
}
