package provision

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
)

// pyPlist loads a profile with Python's plistlib and prints what a device
// would read from it; it fails on any key named Password at any depth.
const pyPlist = `
import json, plistlib, sys
p = plistlib.loads(sys.stdin.buffer.read())
def walk(v):
    if isinstance(v, dict):
        assert "Password" not in v, "Password key present"
        for x in v.values(): walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
walk(p)
out = {"top": {k: v for k, v in p.items() if isinstance(v, str)}, "payloads": []}
for c in p["PayloadContent"]:
    d = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in c.items()}
    out["payloads"].append(d)
print(json.dumps(out))
`

type plistView struct {
	Top      map[string]string `json:"top"`
	Payloads []map[string]any  `json:"payloads"`
}

func readPlist(t testing.TB, doc []byte) plistView {
	t.Helper()
	testtool.MustRun(t, doc, "xmllint", "--noout", "-")
	var v plistView
	if err := json.Unmarshal(testtool.MustRun(t, doc, "python3", "-c", pyPlist), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMobileconfigHostileRoundTrip(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	m := Mobileconfig{
		Chain:        p.chain(),
		Account:      &Account{Server: "mail.example.com", User: hostile("user"), Domain: hostile("dom"), Email: "o'brien&co+{x}@example.com"},
		DisplayName:  hostile("name"),
		Organization: hostile("org"),
		Description:  hostile("desc"),
	}
	doc, err := m.Plist()
	if err != nil {
		t.Fatal(err)
	}
	v := readPlist(t, doc)
	for k, want := range map[string]string{
		"PayloadType": "Configuration", "PayloadDisplayName": m.DisplayName,
		"PayloadOrganization": m.Organization, "PayloadDescription": m.Description,
	} {
		if v.Top[k] != want {
			t.Errorf("top %s = %q, want %q", k, v.Top[k], want)
		}
	}
	if len(v.Payloads) != 2 {
		t.Fatalf("%d payloads, want root and eas", len(v.Payloads))
	}
	root, eas := v.Payloads[0], v.Payloads[1]
	if root["PayloadType"] != "com.apple.security.root" || root["PayloadContent"] != hex.EncodeToString(p.root.Raw) {
		t.Errorf("root payload %v does not hold the root's DER", root["PayloadType"])
	}
	for k, want := range map[string]any{
		"PayloadType": "com.apple.eas.account", "Host": m.Account.Server, "SSL": true,
		"UserName":     m.Account.Domain + `\` + m.Account.User,
		"EmailAddress": m.Account.Email,
	} {
		if eas[k] != want {
			t.Errorf("eas %s = %q, want %q", k, eas[k], want)
		}
	}
	uuids := map[any]bool{v.Top["PayloadUUID"]: true, root["PayloadUUID"]: true, eas["PayloadUUID"]: true}
	if len(uuids) != 3 {
		t.Errorf("payload UUIDs are not distinct: %v", uuids)
	}
}

func TestMobileconfigDeterministicUUIDs(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	mk := func(user string) []byte {
		doc, err := Mobileconfig{Chain: p.chain(), Account: &Account{Server: "mail.example.com", User: user}}.Plist()
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	a, b, c := mk("alice"), mk("alice"), mk("bob")
	if !bytes.Equal(a, b) {
		t.Fatal("same inputs gave different profiles")
	}
	va, vc := readPlist(t, a), readPlist(t, c)
	if va.Top["PayloadUUID"] == vc.Top["PayloadUUID"] || va.Top["PayloadIdentifier"] == vc.Top["PayloadIdentifier"] {
		t.Fatal("different users share a profile UUID or identifier")
	}
	if _, ok := va.Payloads[1]["EmailAddress"]; ok {
		t.Error("EmailAddress written although none was given")
	}
	if va.Payloads[1]["UserName"] != "alice" {
		t.Errorf("UserName %v without a domain", va.Payloads[1]["UserName"])
	}
	rootOnly, err := Mobileconfig{Chain: p.chain()}.Plist()
	if err != nil {
		t.Fatal(err)
	}
	if v := readPlist(t, rootOnly); len(v.Payloads) != 1 {
		t.Fatalf("root-only profile has %d payloads", len(v.Payloads))
	}
}

// Python's uuid module is the oracle for the UUIDv5 construction.
func TestUUID5MatchesPython(t *testing.T) {
	for _, parts := range [][]string{{"a"}, {"account", "mail.example.com", "jdoe"}, {"é", "😀", ""}} {
		name := strings.Join(parts, "\x00")
		out := testtool.MustRun(t, []byte(name), "python3", "-c",
			"import sys,uuid; print(str(uuid.uuid5(uuid.UUID(sys.argv[1]), sys.stdin.buffer.read().decode())).upper())", uuidNamespace)
		if got, want := uuid5(parts...), strings.TrimSpace(string(out)); got != want {
			t.Errorf("uuid5(%q) = %s, python says %s", parts, got, want)
		}
	}
}

func TestSignedMobileconfigVerifiesWithOpenSSL(t *testing.T) {
	for _, tc := range []struct {
		name string
		alg  x509.SignatureAlgorithm
		hash crypto.Hash
	}{{"sha256 chain", x509.SHA256WithRSA, crypto.SHA256}, {"sha1 chain", x509.SHA1WithRSA, crypto.SHA256}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t, tc.alg)
			plist, err := Mobileconfig{Chain: p.chain(), Account: &Account{Server: "mail.example.com", User: "jdoe", Email: "jdoe@example.com"}}.Plist()
			if err != nil {
				t.Fatal(err)
			}
			signed, err := SignMobileconfig(plist, &Signer{Key: p.sigKey, Chain: []*x509.Certificate{p.signer, p.inter}}, tc.hash)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			rootPEM := writePEM(t, "root.pem", "CERTIFICATE", p.root.Raw)
			in, out := filepath.Join(dir, "p.mobileconfig"), filepath.Join(dir, "out.plist")
			if err := os.WriteFile(in, signed, 0o600); err != nil {
				t.Fatal(err)
			}
			// auth_level 0: Debian's OpenSSL refuses SHA-1 certificate
			// signatures at its default level; the check here is the CMS.
			testtool.MustRun(t, nil, "openssl", "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", rootPEM, "-auth_level", "0", "-out", out)
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plist) {
				t.Fatal("openssl recovered a different plist")
			}
			// A different root must not verify it: the oracle can say no.
			other := newPKIWithKeys(t, x509.SHA256WithRSA, 2, 1)
			otherPEM := writePEM(t, "other.pem", "CERTIFICATE", other.root.Raw)
			if _, _, err := testtool.Run(t, nil, "openssl", "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", otherPEM, "-auth_level", "0", "-out", out); err == nil {
				t.Fatal("openssl verified the profile against an unrelated root")
			}
		})
	}
}
