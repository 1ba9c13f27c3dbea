package provision

import (
	"bytes"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/pushca/pushca/profile"
)

var fuzzSeeds = []string{"", "jdoe", "mail.example.com", `a"b<c>&d'`, "]]>", "<![CDATA[x]]>", "&amp;", "</string>", "é日本😀", "\x00", "a\nb", "\xff", " ", "CORP\\", hostile("")}

// wmNode decodes a characteristic tree with encoding/xml, to read fuzzed
// documents back without an outside process per input.
type wmNode struct {
	Type     string   `xml:"type,attr"`
	Parms    []wmParm `xml:"parm"`
	Children []wmNode `xml:"characteristic"`
}

type wmParm struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

func FuzzWMAccount(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, "mail.example.com", s)
		f.Add("jdoe", s, "")
	}
	wm6, err := profile.Get("wm6")
	if err != nil {
		f.Fatal(err)
	}
	opt, err := DefaultSyncOptions(wm6)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, user, host, domain string) {
		a := Account{Server: host, User: user, Domain: domain}
		doc, err := WMDocument{Account: &a, Sync: opt}.XML()
		if err != nil {
			if a.check() == nil {
				t.Fatalf("valid account refused: %v", err)
			}
			return
		}
		var d struct {
			XMLName xml.Name `xml:"wap-provisioningdoc"`
			Top     []wmNode `xml:"characteristic"`
		}
		if err := xml.Unmarshal(doc, &d); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, doc)
		}
		got := map[string]string{}
		for _, p := range d.Top[0].Children[0].Parms {
			got[p.Name] = p.Value
		}
		if got["Server"] != host || got["User"] != user || got["Domain"] != domain {
			t.Fatalf("round trip: got %q, want server %q user %q domain %q", got, host, user, domain)
		}
		if _, ok := got["Password"]; ok {
			t.Fatal("Password parm written")
		}
	})
}

// plistStrings returns the text of every <string> in a plist, in order.
func plistStrings(t *testing.T, doc []byte) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var out []string
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("output does not parse: %v\n%s", err, doc)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "string" {
			var s string
			if err := d.DecodeElement(&s, &se); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
	}
}

func FuzzMobileconfig(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add("mail.example.com", s, s, "", s, s)
		f.Add(s, "jdoe", "", s+"@example.com", "", "")
	}
	p := newPKI(f, x509.SHA256WithRSA)
	f.Fuzz(func(t *testing.T, host, user, domain, email, name, org string) {
		m := Mobileconfig{Chain: p.chain(), Account: &Account{Server: host, User: user, Domain: domain, Email: email}, DisplayName: name, Organization: org}
		doc, err := m.Plist()
		if err != nil {
			if m.Account.check() == nil && checkText("display name", name) == nil && checkText("organization", org) == nil {
				t.Fatalf("valid input refused: %v", err)
			}
			return
		}
		strs := strings.Join(plistStrings(t, doc), "\x00")
		wantUser := user
		if domain != "" {
			wantUser = domain + `\` + user
		}
		for _, want := range []string{host, wantUser, email, name, org} {
			if want != "" && !strings.Contains("\x00"+strs+"\x00", "\x00"+want+"\x00") {
				t.Fatalf("%q is not a <string> of the output", want)
			}
		}
		if bytes.Contains(doc, []byte("<key>Password</key>")) {
			t.Fatal("Password key written")
		}
	})
}

func FuzzQRURL(f *testing.F) {
	for _, u := range append(qrURLs(), "ftp://x/", "https://u:p@x/", "javascript:x", "https://x/\n", "http://[::1]:80/", "https://%zz/") {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, u string) {
		if CheckQRURL(u) != nil {
			return
		}
		p, err := url.Parse(u)
		if err != nil || len(u) > MaxQRURL || p.User != nil || p.Hostname() == "" {
			t.Fatalf("accepted %q (%v)", u, err)
		}
		if s := strings.ToLower(p.Scheme); s != "http" && s != "https" {
			t.Fatalf("accepted scheme %q", p.Scheme)
		}
		q, err := NewQR(u)
		if err != nil {
			t.Fatalf("accepted URL does not encode: %v", err)
		}
		if err := xml.Unmarshal(q.SVG(), new(struct{})); err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
	})
}
