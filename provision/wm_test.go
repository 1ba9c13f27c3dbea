package provision

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

// node is a characteristic as Python's expat-based parser sees it.
type node struct {
	Type     string      `json:"type"`
	Parms    [][2]string `json:"parms"`
	Children []node      `json:"children"`
}

// pyWalk prints the characteristic tree as JSON: an independent parser
// reading our bytes back.
const pyWalk = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == "wap-provisioningdoc", root.tag
def walk(e):
    return {"type": e.get("type"),
            "parms": [[p.get("name"), p.get("value")] for p in e if p.tag == "parm"],
            "children": [walk(c) for c in e if c.tag == "characteristic"]}
print(json.dumps([walk(c) for c in root]))
`

// checkWM runs both oracles over a Windows Mobile document and returns its
// tree.
func checkWM(t testing.TB, doc []byte) []node {
	t.Helper()
	testtool.MustRun(t, doc, "xmllint", "--noout", "-")
	if bytes.HasPrefix(doc, []byte{0xEF, 0xBB, 0xBF}) {
		t.Fatal("document starts with a byte-order mark")
	}
	for i, c := range doc {
		if c >= 0x80 {
			t.Fatalf("non-ASCII byte %#x at %d", c, i)
		}
	}
	var tree []node
	if err := json.Unmarshal(testtool.MustRun(t, doc, "python3", "-c", pyWalk), &tree); err != nil {
		t.Fatal(err)
	}
	return tree
}

func find(t testing.TB, nodes []node, path ...string) node {
	t.Helper()
	for _, n := range nodes {
		if n.Type == path[0] {
			if len(path) == 1 {
				return n
			}
			return find(t, n.Children, path[1:]...)
		}
	}
	t.Fatalf("no characteristic %q among %d", path[0], len(nodes))
	return node{}
}

func parmsOf(n node) map[string]string {
	m := map[string]string{}
	for _, p := range n.Parms {
		m[p[0]] = p[1]
	}
	return m
}

func TestCertificateStoreMatchesOpenSSL(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	c := p.chain()
	doc, err := WMDocument{Chain: &c}.XML()
	if err != nil {
		t.Fatal(err)
	}
	tree := checkWM(t, doc)
	if len(tree) != 1 || tree[0].Type != "CertificateStore" {
		t.Fatalf("top level %+v, want only CertificateStore", tree)
	}
	for _, tc := range []struct {
		store string
		cert  *x509.Certificate
	}{{"ROOT", p.root}, {"CA", p.inter}} {
		store := find(t, tree, "CertificateStore", tc.store)
		if len(store.Children) != 1 {
			t.Fatalf("%s holds %d certificates, want 1", tc.store, len(store.Children))
		}
		entry := store.Children[0]
		b64 := parmsOf(entry)["EncodedCertificate"]
		if strings.ContainsAny(b64, " \r\n\t") || !bytes.Contains(doc, []byte(`value="`+b64+`"`)) {
			t.Fatalf("%s: EncodedCertificate is not one line of base64 in the raw document", tc.store)
		}
		der, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatalf("%s: %v", tc.store, err)
		}
		if !bytes.Equal(der, tc.cert.Raw) {
			t.Fatalf("%s: encoded certificate differs from the input", tc.store)
		}
		// openssl must read the DER and name the same thumbprint.
		out := string(testtool.MustRun(t, der, "openssl", "x509", "-inform", "DER", "-noout", "-fingerprint", "-sha1"))
		want := strings.ReplaceAll(strings.TrimSpace(out[strings.Index(out, "=")+1:]), ":", "")
		if entry.Type != want || len(entry.Type) != 40 {
			t.Fatalf("%s thumbprint %q, openssl says %q", tc.store, entry.Type, want)
		}
		reenc := testtool.MustRun(t, der, "openssl", "x509", "-inform", "DER", "-outform", "DER")
		if !bytes.Equal(reenc, tc.cert.Raw) {
			t.Fatalf("%s: openssl re-encoding differs from the input", tc.store)
		}
	}
}

// hostile holds names that break naive XML, HTML and plist writers, and
// non-ASCII text, padded to 300 characters.
func hostile(prefix string) string {
	s := prefix + `a"b<c>&d'<key><string><!--x-->]]>&amp;<![CDATA[y]]><plist>é日本😀Ω\`
	for r := []rune(s); len(r) < 300; r = []rune(s) {
		s += "ü"
	}
	return s
}

func TestSyncHostileNamesRoundTrip(t *testing.T) {
	wm5, err := profile.Get("wm5")
	if err != nil {
		t.Fatal(err)
	}
	opt, err := DefaultSyncOptions(wm5)
	if err != nil {
		t.Fatal(err)
	}
	acct := Account{Server: "mail.example.com", User: hostile("user"), Domain: hostile("dom")}
	doc, err := WMDocument{Account: &acct, Sync: opt}.XML()
	if err != nil {
		t.Fatal(err)
	}
	tree := checkWM(t, doc)
	conn := parmsOf(find(t, tree, "Sync", "Connection"))
	for name, want := range map[string]string{"Server": acct.Server, "User": acct.User, "Domain": acct.Domain, "AllowSSLOption": "0"} {
		if conn[name] != want {
			t.Errorf("Connection/%s = %q, want %q", name, conn[name], want)
		}
	}
	for _, n := range []string{"Password", "SavePassword", "UseSSL", "URI"} {
		if _, ok := conn[n]; ok {
			t.Errorf("Connection has %s by default", n)
		}
	}
	settings := parmsOf(find(t, tree, "Sync", "Settings"))
	hb := wm5.Heartbeat
	for name, want := range map[string]int{"HeartbeatDefault": hb.Start, "HeartbeatIncrement": hb.Step, "HeartbeatMax": hb.Max, "HeartbeatMin": hb.Min} {
		if settings[name] != strconv.Itoa(want) {
			t.Errorf("Settings/%s = %q, want %d", name, settings[name], want)
		}
	}
	if settings["HeartbeatDefault"] != "480" || settings["HeartbeatIncrement"] != "300" || settings["HeartbeatMax"] != "1680" || settings["HeartbeatMin"] != "480" {
		t.Errorf("heartbeat %v is not the reference's 480/300/1680/480", settings)
	}
	if _, ok := settings["PeakFrequency"]; ok {
		t.Error("PeakFrequency written by default")
	}
	if settings["PeakStartTime"] != "0800" || settings["PeakEndTime"] != "1800" {
		t.Errorf("peak hours %q-%q", settings["PeakStartTime"], settings["PeakEndTime"])
	}
	days := find(t, tree, "Sync", "Settings", "PeakDays").Parms
	wantDays := [][2]string{{"Sun", "0"}, {"Mon", "1"}, {"Tue", "1"}, {"Wed", "1"}, {"Thr", "1"}, {"Fri", "1"}, {"Sat", "0"}}
	if len(days) != 7 {
		t.Fatalf("PeakDays %v", days)
	}
	for i := range wantDays {
		if days[i] != wantDays[i] {
			t.Errorf("PeakDays[%d] = %v, want %v", i, days[i], wantDays[i])
		}
	}
	for path, want := range map[string]map[string]string{
		"Mail":     {"Enabled": "1", "EmailAgeFilter": "2"},
		"Calendar": {"Enabled": "1", "CalendarAgeFilter": "4"},
		"Contacts": {"Enabled": "1"},
		"Tasks":    {"Enabled": "1"},
	} {
		got := parmsOf(find(t, tree, "Sync", path))
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s/%s = %q, want %q", path, k, got[k], v)
			}
		}
	}
}

func TestSyncUnconfirmedParmsOptIn(t *testing.T) {
	wm6, _ := profile.Get("wm6")
	opt, err := DefaultSyncOptions(wm6)
	if err != nil {
		t.Fatal(err)
	}
	freq, yes, no := -1, true, false
	opt.PeakFrequency, opt.SavePassword, opt.UseSSL = &freq, &yes, &no
	opt.URI = "Microsoft-Server-ActiveSync"
	opt.AllowSSLOption = true
	opt.Mail, opt.Tasks = false, false
	opt.PeakDays = [7]bool{6: true}
	doc, err := WMDocument{Account: &Account{Server: "mail.example.com", User: "jdoe"}, Sync: opt}.XML()
	if err != nil {
		t.Fatal(err)
	}
	tree := checkWM(t, doc)
	conn := parmsOf(find(t, tree, "Sync", "Connection"))
	for k, v := range map[string]string{"SavePassword": "1", "UseSSL": "0", "URI": "Microsoft-Server-ActiveSync", "AllowSSLOption": "1"} {
		if conn[k] != v {
			t.Errorf("Connection/%s = %q, want %q", k, conn[k], v)
		}
	}
	if _, ok := conn["Domain"]; ok {
		t.Error("empty Domain written")
	}
	if got := parmsOf(find(t, tree, "Sync", "Settings"))["PeakFrequency"]; got != "-1" {
		t.Errorf("PeakFrequency = %q", got)
	}
	if got := parmsOf(find(t, tree, "Sync", "Settings", "PeakDays")); got["Sat"] != "1" || got["Mon"] != "0" {
		t.Errorf("PeakDays %v", got)
	}
	if parmsOf(find(t, tree, "Sync", "Mail"))["Enabled"] != "0" || parmsOf(find(t, tree, "Sync", "Tasks"))["Enabled"] != "0" {
		t.Error("disabled content types still enabled")
	}
}

func TestCombinedDocumentOrder(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	c := p.chain()
	wm65, _ := profile.Get("wm65")
	opt, _ := DefaultSyncOptions(wm65)
	doc, err := WMDocument{Chain: &c, Account: &Account{Server: "mail.example.com", User: "jdoe", Domain: "CORP"}, Sync: opt}.XML()
	if err != nil {
		t.Fatal(err)
	}
	tree := checkWM(t, doc)
	if len(tree) != 2 || tree[0].Type != "CertificateStore" || tree[1].Type != "Sync" {
		t.Fatalf("top level %+v, want CertificateStore then Sync", tree)
	}
}

func TestWMRefusesBadInput(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	wm5, _ := profile.Get("wm5")
	good, _ := DefaultSyncOptions(wm5)
	ok := Account{Server: "mail.example.com", User: "jdoe"}
	leafAsRoot := Chain{Root: p.signer}
	for name, d := range map[string]WMDocument{
		"empty":            {},
		"url as server":    {Account: &Account{Server: "https://mail.example.com/", User: "u"}, Sync: good},
		"space in server":  {Account: &Account{Server: "mail example", User: "u"}, Sync: good},
		"markup in server": {Account: &Account{Server: `mail<x>&"y`, User: "u"}, Sync: good},
		"unicode server":   {Account: &Account{Server: "bücher.example", User: "u"}, Sync: good},
		"no user":          {Account: &Account{Server: "mail.example.com"}, Sync: good},
		"newline in user":  {Account: &Account{Server: "mail.example.com", User: "a\nb"}, Sync: good},
		"NUL in domain":    {Account: &Account{Server: "mail.example.com", User: "u", Domain: "a\x00"}, Sync: good},
		"bad UTF-8":        {Account: &Account{Server: "mail.example.com", User: "\xff"}, Sync: good},
		"too long":         {Account: &Account{Server: "mail.example.com", User: strings.Repeat("x", maxText+1)}, Sync: good},
		"zero options":     {Account: &ok},
		"bad peak":         {Account: &ok, Sync: func() SyncOptions { o := good; o.PeakEnd = "2460"; return o }()},
		"bad filter":       {Account: &ok, Sync: func() SyncOptions { o := good; o.EmailAgeFilter = 8; return o }()},
		"leaf as root":     {Chain: &leafAsRoot},
		"no root":          {Chain: &Chain{}},
	} {
		if doc, err := d.XML(); err == nil {
			t.Errorf("%s: accepted:\n%s", name, doc)
		}
	}
	ios, _ := profile.Get("ios")
	if _, err := DefaultSyncOptions(ios); err == nil {
		t.Error("Sync options for an ios profile")
	}
}
