package eas

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

// typedVectors pair golden bytes with the typed value they stand for: the
// value must marshal to exactly those bytes and parse back to itself.
func typedVectors() []struct {
	name  string
	hex   string
	msg   Message
	parse func([]byte) (Message, error)
} {
	type V = struct {
		name  string
		hex   string
		msg   Message
		parse func([]byte) (Message, error)
	}
	gv := map[string]string{}
	for _, v := range goldenVectors {
		gv[v.name] = v.hex
	}
	pingResp := func(b []byte) (Message, error) { return ParsePingResponse(b) }
	return []V{
		{"ping request", gv["ping request"], &PingRequest{HeartbeatInterval: 480,
			Folders: []PingFolder{{ID: "1", Class: "Email"}}},
			func(b []byte) (Message, error) { return ParsePingRequest(b) }},
		{"ping status 1", gv["ping status 1"], &PingResponse{Status: PingExpired}, pingResp},
		{"ping status 2", gv["ping status 2"], &PingResponse{Status: PingChanges, Folders: []string{"root"}}, pingResp},
		{"ping status 3", gv["ping status 3"], &PingResponse{Status: PingMissingParameters}, pingResp},
		{"ping status 5", gv["ping status 5"], &PingResponse{Status: PingHeartbeatOutOfRange, HeartbeatInterval: 60}, pingResp},
		{"ping status 6", gv["ping status 6"], &PingResponse{Status: PingTooManyFolders, MaxFolders: 200}, pingResp},
		{"ping status 7", gv["ping status 7"], &PingResponse{Status: PingFolderSyncRequired}, pingResp},
		{"ping status 8", gv["ping status 8"], &PingResponse{Status: PingServerError}, pingResp},
		{"foldersync request", gv["foldersync request"], &FolderSyncRequest{SyncKey: InitialSyncKey},
			func(b []byte) (Message, error) { return ParseFolderSyncRequest(b) }},
		{"foldersync response", gv["foldersync response"], &FolderSyncResponse{Status: FolderSyncOK,
			SyncKey: "{5eeee8f8-fdee-4522-9867-fa03057677cc}1",
			Changes: &FolderChanges{Count: 1, Add: []Folder{{ServerID: "root", ParentID: "0", DisplayName: "Inbox", Type: FolderInbox}}}},
			func(b []byte) (Message, error) { return ParseFolderSyncResponse(b) }},
		{"provision phase 1", gv["provision phase 1"], &ProvisionRequest{Policies: []PolicyAck{{PolicyType: PolicyTypeWBXML}}},
			func(b []byte) (Message, error) { return ParseProvisionRequest(b) }},
		{"provision phase 2", gv["provision phase 2"], &ProvisionRequest{Policies: []PolicyAck{{
			PolicyType: PolicyTypeWBXML, PolicyKey: 515170180, Status: PolicyOK}}},
			func(b []byte) (Message, error) { return ParseProvisionRequest(b) }},
		{"sync request key 0", gv["sync request key 0"], &SyncRequest{Collections: []SyncCollection{{
			SyncKey: InitialSyncKey, CollectionID: "root"}}},
			func(b []byte) (Message, error) { return ParseSyncRequest(b) }},
		{"sync request options", gv["sync request options"], &SyncRequest{Collections: []SyncCollection{{
			SyncKey: "{a5f0f644-4ec9-40ac-98d2-0fbdd684bf89}1", CollectionID: "root",
			DeletesAsMoves: new(true), GetChanges: new(true), WindowSize: 25,
			Options: &SyncOptions{FilterType: new(0), BodyPreference: []BodyPreference{{Type: BodyPlain, TruncationSize: 32768}}}}}},
			func(b []byte) (Message, error) { return ParseSyncRequest(b) }},
	}
}

func TestTypedGoldenVectors(t *testing.T) {
	for _, v := range typedVectors() {
		t.Run(v.name, func(t *testing.T) {
			if v.hex == "" {
				t.Fatal("no golden vector named", v.name)
			}
			b, err := Marshal(v.msg)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(b) != v.hex {
				t.Fatalf("marshal\n got %x\nwant %s", b, v.hex)
			}
			got, err := v.parse(mustHex(t, v.hex))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, v.msg) {
				t.Fatalf("parse\n got %+v\nwant %+v", got, v.msg)
			}
		})
	}
}

func TestProvisionAcknowledgement(t *testing.T) {
	p1, err := ParseProvisionRequest(goldenBytes(t, "provision phase 1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p1.Acknowledgement(); ok {
		t.Error("phase 1 taken for an acknowledgement")
	}
	p2, err := ParseProvisionRequest(goldenBytes(t, "provision phase 2"))
	if err != nil {
		t.Fatal(err)
	}
	if ack, ok := p2.Acknowledgement(); !ok || ack.PolicyKey != 515170180 || ack.Status != PolicyOK {
		t.Errorf("phase 2: %+v %v", ack, ok)
	}
}

func TestEmptyPingRequest(t *testing.T) {
	r, err := ParsePingRequest(nil)
	if err != nil || r.HeartbeatInterval != 0 || len(r.Folders) != 0 {
		t.Fatalf("%+v, %v", r, err)
	}
	if _, err := ParsePingResponse(nil); err == nil {
		t.Fatal("empty Ping response accepted")
	}
}

func TestTypedParseErrors(t *testing.T) {
	enc := func(e *Element) []byte {
		b, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"wrong root", enc(NewElement("FolderHierarchy:FolderSync")), "root element is FolderHierarchy:FolderSync, want Ping:Ping"},
		{"bad interval", enc(NewElement("Ping:Ping", TextElement("Ping:HeartbeatInterval", "8x"))), `Ping:HeartbeatInterval: invalid integer "8x"`},
		{"repeated", enc(NewElement("Ping:Ping", TextElement("Ping:HeartbeatInterval", "1"), TextElement("Ping:HeartbeatInterval", "2"))), "repeated"},
		{"nested error path", enc(NewElement("Ping:Ping", NewElement("Ping:Folders", NewElement("Ping:Folder", NewElement("Ping:Id", TextElement("Ping:Class", "x")))))), "Ping:Folders/Ping:Folder/Ping:Id: want text"},
		{"overflow", enc(NewElement("Ping:Ping", TextElement("Ping:HeartbeatInterval", "99999999999999999999"))), "invalid integer"},
	}
	for _, c := range cases {
		_, err := ParsePingRequest(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	long := enc(NewElement("FolderHierarchy:FolderSync", TextElement("FolderHierarchy:SyncKey", strings.Repeat("k", 65))))
	if _, err := ParseFolderSyncRequest(long); err == nil || !strings.Contains(err.Error(), "exceeds 64") {
		t.Errorf("65-character SyncKey: %v", err)
	}
	longSync := enc(NewElement("AirSync:Sync", NewElement("AirSync:Collections", NewElement("AirSync:Collection",
		TextElement("AirSync:SyncKey", strings.Repeat("k", 65)), TextElement("AirSync:CollectionId", "1")))))
	if _, err := ParseSyncRequest(longSync); err == nil || !strings.Contains(err.Error(), "exceeds 64") {
		t.Errorf("65-character Sync SyncKey: %v", err)
	}
}

// TestUnknownChildrenSkipped: a 14.x server sends policy settings beyond our
// subset; the typed parser must keep what it knows and skip the rest.
func TestUnknownChildrenSkipped(t *testing.T) {
	doc := NewElement("Provision:Provision", TextElement("Provision:Status", "1"),
		NewElement("Provision:Policies", NewElement("Provision:Policy",
			TextElement("Provision:PolicyType", PolicyTypeWBXML), TextElement("Provision:Status", "1"),
			TextElement("Provision:PolicyKey", "42"),
			NewElement("Provision:Data", NewElement("Provision:EASProvisionDoc",
				TextElement("Provision:DevicePasswordEnabled", "1"),
				TextElement("Provision:0x2e", "0"), // AllowBluetooth, not in our tables
				TextElement("Provision:MinDevicePasswordLength", "6"))))))
	b, err := Encode(doc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseProvisionResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	d := r.Policies[0].Data.EASProvisionDoc
	if r.Policies[0].PolicyKey != 42 || !d.DevicePasswordEnabled || d.MinDevicePasswordLength != 6 {
		t.Fatalf("%+v %+v", r.Policies[0], d)
	}
}
