package provision

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

func wmProfile(t testing.TB, name string) profile.Profile {
	t.Helper()
	p, err := profile.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func combined(t testing.TB, p testPKI, prof profile.Profile) WMDocument {
	t.Helper()
	c := p.chain()
	opt, err := DefaultSyncOptions(prof)
	if err != nil {
		t.Fatal(err)
	}
	return WMDocument{Chain: &c, Account: &Account{Server: "mail.example.com", User: hostile("user"), Domain: "CORP"}, Sync: opt}
}

// checkCAB tests the cabinet with cabextract, extracts it and returns the
// listing; _setup.xml must come out byte-identical and alone.
func checkCAB(t *testing.T, pkg WMPackage) string {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "pkg"+pkg.Ext)
	if err := os.WriteFile(f, pkg.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	testtool.MustRun(t, nil, "cabextract", "-q", "-t", f)
	out := filepath.Join(dir, "out")
	testtool.MustRun(t, nil, "cabextract", "-q", "-d", out, f)
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "_setup.xml" {
		t.Fatalf("cabinet holds %v, want only _setup.xml", entries)
	}
	got, err := os.ReadFile(filepath.Join(out, "_setup.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pkg.XML) {
		t.Fatal("extracted _setup.xml differs from the document")
	}
	checkWM(t, got)
	return string(testtool.MustRun(t, nil, "cabextract", "-l", f))
}

func TestCABStoredByDefault(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	wm5 := wmProfile(t, "wm5")
	pkg, err := combined(t, p, wm5).Package(CABOptions{Profile: wm5})
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Ext != ".cab" || len(pkg.Warnings) != 0 {
		t.Fatalf("ext %q, warnings %v", pkg.Ext, pkg.Warnings)
	}
	list := checkCAB(t, pkg)
	if !bytes.Contains(pkg.Data, pkg.XML) {
		t.Fatal("_setup.xml is not stored uncompressed")
	}
	// The root's NotBefore (2024-03-01 12:00:00 UTC) stamps the file.
	if !strings.Contains(list, "01.03.2024 12:00:00") {
		t.Fatalf("listing does not show the root's NotBefore:\n%s", list)
	}
	again, err := combined(t, p, wm5).Package(CABOptions{Profile: wm5})
	if err != nil || !bytes.Equal(again.Data, pkg.Data) {
		t.Fatalf("same input, different cabinet (%v)", err)
	}
}

func TestCABSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000") // 2023-11-14 22:13:20 UTC
	p := newPKI(t, x509.SHA1WithRSA)
	wm6 := wmProfile(t, "wm6")
	pkg, err := combined(t, p, wm6).Package(CABOptions{Profile: wm6})
	if err != nil {
		t.Fatal(err)
	}
	if list := checkCAB(t, pkg); !strings.Contains(list, "14.11.2023 22:13:20") {
		t.Fatalf("SOURCE_DATE_EPOCH not honoured:\n%s", list)
	}
}

func TestCABMSZIP(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	for _, name := range []string{"wm6", "wm65"} {
		prof := wmProfile(t, name)
		pkg, err := combined(t, p, prof).Package(CABOptions{Profile: prof, MSZIP: true})
		if err != nil {
			t.Fatal(err)
		}
		checkCAB(t, pkg)
		if bytes.Contains(pkg.Data, pkg.XML) || len(pkg.Data) >= len(pkg.XML) {
			t.Fatalf("%s: MSZIP asked but _setup.xml is stored", name)
		}
	}
	wm5 := wmProfile(t, "wm5")
	if _, err := combined(t, p, wm5).Package(CABOptions{Profile: wm5, MSZIP: true}); err == nil || !strings.Contains(err.Error(), "wm5") {
		t.Fatalf("wm5 with MSZIP: %v, want a refusal naming wm5", err)
	}
	ios := wmProfile(t, "ios")
	if _, err := (WMDocument{Chain: &Chain{Root: p.root}}).Package(CABOptions{Profile: ios}); err == nil {
		t.Fatal("CAB for an ios profile")
	}
}

func TestCABWarnsAboutSHA256ChainForWM(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	wm5 := wmProfile(t, "wm5")
	c := p.chain()
	pkg, err := WMDocument{Chain: &c}.Package(CABOptions{Profile: wm5})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Warnings) != 2 || !strings.Contains(pkg.Warnings[0], "SHA-1") {
		t.Fatalf("warnings %q, want one per SHA-256 certificate", pkg.Warnings)
	}
	s := &Signer{Key: p.sigKey, Chain: []*x509.Certificate{p.signer, p.inter}}
	if pkg, err = (WMDocument{Chain: &c}).Package(CABOptions{Profile: wm5, Signer: s}); err != nil {
		t.Fatal(err)
	}
	if len(pkg.Warnings) != 4 || !strings.Contains(pkg.Warnings[2], "signing certificate") {
		t.Fatalf("warnings %q, want the chain's two and the signer chain's two", pkg.Warnings)
	}
}

func TestSignedCPFVerifiesWithOsslsigncode(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	wm6 := wmProfile(t, "wm6")
	s := &Signer{Key: p.sigKey, Chain: []*x509.Certificate{p.signer, p.inter}}
	pkg, err := combined(t, p, wm6).Package(CABOptions{Profile: wm6, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Ext != ".cpf" || len(pkg.Warnings) != 0 {
		t.Fatalf("signed package named %q, warnings %q", pkg.Ext, pkg.Warnings)
	}
	checkCAB(t, pkg)
	f := filepath.Join(t.TempDir(), "signed.cpf")
	if err := os.WriteFile(f, pkg.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	root := writePEM(t, "root.pem", "CERTIFICATE", p.root.Raw)
	out := testtool.MustRun(t, nil, "osslsigncode", "verify", "-CAfile", root, "-in", f)
	if !strings.Contains(string(out), "Signature verification: ok") {
		t.Fatalf("osslsigncode:\n%s", out)
	}
	other := newPKIWithKeys(t, x509.SHA1WithRSA, 2, 1)
	otherRoot := writePEM(t, "other.pem", "CERTIFICATE", other.root.Raw)
	if out, _, err := testtool.Run(t, nil, "osslsigncode", "verify", "-CAfile", otherRoot, "-in", f); err == nil && strings.Contains(string(out), "Signature verification: ok") {
		t.Fatal("osslsigncode accepted the signature against an unrelated root")
	}
}
