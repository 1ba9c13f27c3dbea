package eas

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// syncResponse25 is a Sync window of 25 messages with 1 KiB plain bodies in
// the 14.1 form, the shape of a push endpoint's busiest answer.
func syncResponse25(b *testing.B) *SyncResponse {
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 18)[:1024]
	r := &SyncResponse{Collections: []SyncCollectionResponse{{SyncKey: "{a5f0f644-4ec9-40ac-98d2-0fbdd684bf89}2",
		CollectionID: "1", Status: SyncOK, MoreAvailable: true, Commands: &SyncCommands{}}}}
	for i := range 25 {
		e := &Email{To: `"Alice Example" <alice@corp.example>`, From: `"Bob" <bob@corp.example>`,
			Subject: fmt.Sprintf("Quarterly report %d", i), DateReceived: time.Date(2026, 11, 25, 6, i, 0, 0, time.UTC),
			Read: new(false), MessageClass: MessageClassNote, InternetCPID: "65001"}
		if err := e.SetBody("14.1", BodyPlain, body, 32768); err != nil {
			b.Fatal(err)
		}
		r.Collections[0].Commands.Add = append(r.Collections[0].Commands.Add, SyncItem{ServerID: fmt.Sprintf("1:%d", i), ApplicationData: e})
	}
	return r
}

func pingRequest() *PingRequest {
	return &PingRequest{HeartbeatInterval: 480, Folders: []PingFolder{{ID: "1", Class: "Email"}}}
}

func benchEncode(b *testing.B, m Message) {
	root, err := ToElement(m)
	if err != nil {
		b.Fatal(err)
	}
	buf, _ := Encode(root)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendEncode(buf[:0], root); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, m Message) {
	doc, err := Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSyncResponse25(b *testing.B) { benchEncode(b, syncResponse25(b)) }
func BenchmarkDecodeSyncResponse25(b *testing.B) { benchDecode(b, syncResponse25(b)) }
func BenchmarkEncodePingRequest(b *testing.B)    { benchEncode(b, pingRequest()) }
func BenchmarkDecodePingRequest(b *testing.B)    { benchDecode(b, pingRequest()) }

// The typed layer on top (reflection), as push/ uses it per request.
func BenchmarkMarshalSyncResponse25(b *testing.B) {
	r := syncResponse25(b)
	doc, _ := Marshal(r)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePingRequest(b *testing.B) {
	doc, _ := Marshal(pingRequest())
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePingRequest(doc); err != nil {
			b.Fatal(err)
		}
	}
}
