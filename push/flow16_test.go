package push

import (
	"context"
	"slices"
	"testing"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/ping"
)

// TestDeviceFlow16 runs what a 16.x client does, over TLS against the real
// server: OPTIONS, Provision carrying DeviceInformation ([MS-ASPROV]
// 2.2.2.53: required from 14.1), FolderSync, Sync with a 16.x mail item,
// Settings (Oof and UserInformation), and a held Ping woken by a push.
func TestDeviceFlow16(t *testing.T) {
	for _, tc := range []struct {
		version string
		base64  bool
	}{{"16.0", false}, {"16.1", true}} {
		t.Run(tc.version, func(t *testing.T) {
			ts := startServerWith(t, ping.HeartbeatBounds{Min: 1, Max: 3540}, func(c *Config) { c.MailDomain = "example.test" })
			ctx := context.Background()
			c := ts.client(tc.version, "MODERN"+tc.version[3:], tc.base64)
			c.DeviceType = "iPhone"
			c.DeviceInformation = &eas.DeviceInformation{Model: "iPhone16,1", OS: "iOS 18.0", UserAgent: "Apple-iPhone16C1/2201.1"}

			opts, err := c.Options(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(opts.Versions, tc.version) || !slices.Equal(opts.Commands, []string{"Sync", "FolderSync", "GetItemEstimate", "Ping", "Provision", "Settings"}) {
				t.Fatalf("OPTIONS: %+v", opts)
			}
			if _, err := c.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			if dev, _, _ := ts.devices.Get(context.Background(), "alice", c.DeviceID); dev.Model != "iPhone16,1" || dev.OS != "iOS 18.0" || dev.Protocol != tc.version {
				t.Fatalf("DeviceInformation of Provision not recorded: %+v", dev)
			}
			if fs, err := c.FolderSync(ctx, eas.InitialSyncKey); err != nil || fs.Status != eas.FolderSyncOK || fs.Changes.Count != len(ping.Folders()) {
				t.Fatalf("FolderSync: %+v %v", fs, err)
			}
			prime, err := c.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{{SyncKey: eas.InitialSyncKey, CollectionID: ping.InboxID}}})
			if err != nil {
				t.Fatal(err)
			}
			key := prime.Collections[0].SyncKey

			held := ts.heldPing(t, c, inboxPing(3000))
			if res := ts.deliver(t, "sixteen", "pushed at "+tc.version); res.Woken != 1 {
				t.Fatalf("woken %d", res.Woken)
			}
			if pr := pingStatus(t, held); pr.Status != eas.PingChanges || !slices.Equal(pr.Folders, []string{ping.InboxID}) {
				t.Fatalf("held Ping after the push: %+v", pr)
			}
			sr, err := c.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{{SyncKey: key, CollectionID: ping.InboxID, GetChanges: new(true),
				Options: &eas.SyncOptions{BodyPreference: []eas.BodyPreference{{Type: eas.BodyPlain, TruncationSize: 1024}}}}}})
			if err != nil {
				t.Fatal(err)
			}
			got := sr.Collections[0]
			if got.Status != eas.SyncOK || got.Class != "" || got.Commands == nil || len(got.Commands.Add) != 1 {
				t.Fatalf("Sync: %+v", got)
			}
			mail := got.Commands.Add[0].ApplicationData
			if mail.Subject != "sixteen" || mail.Body == nil || mail.Body.Data != "pushed at "+tc.version || mail.LegacyBody != "" ||
				mail.IsDraft == nil || *mail.IsDraft {
				t.Fatalf("16.x mail item: %+v body %+v", mail, mail.Body)
			}

			s, err := c.Settings(ctx, &eas.SettingsRequest{Oof: &eas.OofRequest{Get: &eas.OofGet{BodyType: "text"}},
				UserInformation: &eas.UserInformationRequest{Get: true}})
			if err != nil {
				t.Fatal(err)
			}
			if s.Status != eas.SettingsOK || s.Oof == nil || s.Oof.Status != eas.SettingsOK || s.Oof.Get == nil ||
				s.Oof.Get.State != eas.OofDisabled || len(s.Oof.Get.Messages) != 3 {
				t.Fatalf("Oof Get: %+v", s.Oof)
			}
			for _, m := range s.Oof.Get.Messages {
				if m.Enabled || m.ReplyMessage != "" || m.BodyType != eas.OofBodyText {
					t.Fatalf("OOF message %+v: want disabled, empty, Text", m)
				}
			}
			ui := s.UserInformation
			if ui == nil || ui.Status != eas.SettingsOK || ui.Get == nil || len(ui.Get.Accounts) != 1 || ui.Get.EmailAddresses != nil {
				t.Fatalf("UserInformation at %s must hold one Account: %+v", tc.version, ui)
			}
			if a := ui.Get.Accounts[0].EmailAddresses; a == nil || a.Primary != "alice@example.test" || !slices.Equal(a.SMTPAddresses, []string{"alice@example.test"}) {
				t.Fatalf("UserInformation addresses: %+v", a)
			}
		})
	}
}
