package provision

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

// hostileUsers have names full of XML, HTML and plist metacharacters,
// non-ASCII and 300 characters, on every device kind.
func hostileUsers() []User {
	return []User{
		{Line: 2, Name: hostile("u1"), Email: "o'brien&co+{x}@example.com", DisplayName: hostile("Dr. ") + "</title><script>alert(1)</script>", Domain: `CORP&<"'>`, Devices: []string{"android", "ios", "wm5", "wm6"}},
		{Line: 3, Name: "jdoe", DisplayName: "Jöhn \"Q\" <Doe>", Devices: []string{"ios"}},
		{Line: 4, Name: `]]></string><key>x</key>`, Devices: []string{"wm65"}},
		{Line: 5, Name: "日本語ユーザー", Email: "nihon@example.jp"},
	}
}

func testBundle(t testing.TB) Bundle {
	t.Helper()
	return Bundle{
		Chains: newPKI(t, x509.SHA1WithRSA).chains(), Server: "mail.example.com", Domain: "EXAMPLE",
		Devices: []string{"android", "wm6"}, Version: "test", Inputs: map[string]string{"users_csv_sha256": "x"},
		URL: func(u User) (string, time.Time, error) {
			sum := sha256.Sum256([]byte(u.Name))
			return "http://enroll.example.com/u/" + hex.EncodeToString(sum[:16]), time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC), nil
		},
	}
}

func TestBundleHostileNamesPassTheOracles(t *testing.T) {
	b := testBundle(t)
	dir := t.TempDir()
	users := hostileUsers()
	m, err := b.Write(context.Background(), dir, users, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkManifest(t, dir, m)
	var htmls, plists []string
	want := map[string]string{}
	for _, u := range users {
		udir := filepath.Join(dir, "users", u.Folder())
		wantURL, _, _ := b.URL(u)
		if got := strings.TrimSpace(string(testtool.MustRun(t, nil, "zbarimg", "--raw", "-q", filepath.Join(udir, "qr.png")))); got != wantURL {
			t.Errorf("%s: QR decodes to %q, want %q", u.Folder(), got, wantURL)
		}
		devices := b.devices(u)
		if slices.ContainsFunc(devices, func(d string) bool { return strings.HasPrefix(d, "wm") }) {
			cab := filepath.Join(udir, "account.cab")
			testtool.MustRun(t, nil, "cabextract", "-t", cab)
			xml := testtool.MustRun(t, nil, "cabextract", "-p", "-F", "_setup.xml", cab)
			testtool.MustRun(t, xml, "xmllint", "--noout", "-")
			for parm, v := range map[string]string{"User": u.Name, "Domain": or(u.Domain, b.Domain), "Server": b.Server} {
				got := testtool.MustRun(t, xml, "xmllint", "--xpath", `string(//characteristic[@type="Connection"]/parm[@name="`+parm+`"]/@value)`, "-")
				if got := strings.TrimSuffix(string(got), "\n"); got != v {
					t.Errorf("%s: xmllint reads %s %q, want %q", u.Folder(), parm, got, v)
				}
			}
		}
		if slices.Contains(devices, "ios") {
			p := filepath.Join(udir, "exchange.mobileconfig")
			plists = append(plists, p)
			user := u.Name
			if d := or(u.Domain, b.Domain); d != "" {
				user = d + `\` + u.Name
			}
			want[p] = user
		}
		h := filepath.Join(udir, "index.html")
		htmls = append(htmls, h)
		want[h] = u.Name + "\x00" + or(u.DisplayName, u.Name)
	}
	testtool.MustRun(t, nil, "cabextract", "-t", filepath.Join(dir, "shared", "root.cab"))
	// Windows Mobile gets the legacy family's intermediate in its CA store,
	// never the modern one it cannot use.
	rootXML := testtool.MustRun(t, nil, "cabextract", "-p", "-F", "_setup.xml", filepath.Join(dir, "shared", "root.cab"))
	caStore := testtool.MustRun(t, rootXML, "xmllint", "--xpath", `//characteristic[@type="CA"]/characteristic/@type`, "-")
	if got, want := strings.TrimSpace(string(caStore)), `type="`+SHA1(b.Chains["legacy"].Intermediates[0]).Plain()+`"`; got != want {
		t.Errorf("root CAB's CA store holds %s, want the legacy intermediate %s", got, want)
	}
	testtool.MustRun(t, nil, "openssl", "x509", "-inform", "DER", "-noout", "-in", filepath.Join(dir, "shared", "root.crt"))

	// One python3 run reads every plist with plistlib and every sheet with
	// html.parser, and prints what each holds as text.
	script := testtool.PySheetParser + `
import json, plistlib, sys
out = {}
for f in json.loads(sys.argv[1]):
    with open(f, "rb") as fh:
        pl = plistlib.load(fh)
    eas = [p for p in pl["PayloadContent"] if p["PayloadType"] == "com.apple.eas.account"][0]
    out[f] = eas["UserName"]
for f in json.loads(sys.argv[2]):
    p = P(); p.feed(open(f, encoding="utf-8").read()); p.close()
    if p.scripts: out[f] = "script element!"
    else: out[f] = p.ids.get("user", "") + "\x00" + p.ids.get("who", "")
print(json.dumps(out))
`
	pj, _ := json.Marshal(plists)
	hj, _ := json.Marshal(htmls)
	var got map[string]string
	if err := json.Unmarshal(testtool.MustRun(t, nil, "python3", "-c", script, string(pj), string(hj)), &got); err != nil {
		t.Fatal(err)
	}
	for f, w := range want {
		if got[f] != w {
			t.Errorf("%s: parser reads %q, want %q", f, got[f], w)
		}
	}
}

// checkManifest recomputes every listed file's digest with sha256sum and
// checks nothing else was written.
func checkManifest(t *testing.T, dir string, m *Manifest) {
	t.Helper()
	var list bytes.Buffer
	listed := map[string]bool{ManifestName: true}
	for _, f := range m.Files {
		fmt.Fprintf(&list, "%s  %s\n", f.SHA256, f.Path)
		listed[f.Path] = true
		if st, err := os.Stat(filepath.Join(dir, f.Path)); err != nil || st.Size() != int64(f.Size) {
			t.Errorf("%s: size in manifest %d, on disk %v %v", f.Path, f.Size, st, err)
		}
	}
	out, errb, err := runIn(t, dir, list.Bytes(), "sha256sum", "--check", "--strict", "-")
	if err != nil {
		t.Fatalf("sha256sum --check: %v\n%s%s", err, out, errb)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !d.IsDir() && !listed[filepath.ToSlash(rel)] {
			t.Errorf("%s is on disk but not in the manifest", rel)
		}
		// Private like the state directory: a bundle names every user.
		// (The output directory itself is the caller's.)
		if rel == "." {
			return nil
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", rel, st.Mode().Perm(), want, err)
		}
		return nil
	})
}

func runIn(t *testing.T, dir string, stdin []byte, tool string, args ...string) ([]byte, []byte, error) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	defer os.Chdir(wd)
	return testtool.Run(t, stdin, tool, args...)
}

// tree reads every file under dir, and where each link points.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			out[filepath.ToSlash(rel)] = "link to " + target
			return err
		}
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func manyUsers(n int) []User {
	users := make([]User, n)
	for i := range users {
		users[i] = User{Line: i + 2, Name: fmt.Sprintf("user%03d", i), Devices: []string{"android", "ios", "wm5"}}
	}
	return users
}

func TestBundleIsDeterministicAndResumesAfterCancel(t *testing.T) {
	b := testBundle(t)
	users := manyUsers(40)
	clean := t.TempDir()
	if _, err := b.Write(context.Background(), clean, users, nil); err != nil {
		t.Fatal(err)
	}
	want := tree(t, clean)

	again := t.TempDir()
	if _, err := b.Write(context.Background(), again, users, nil); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, again); !maps.Equal(got, want) {
		t.Fatal("a second run into a fresh directory gave different bytes")
	}

	// Cancel after a few users, as Ctrl-C would, and leave a temporary
	// file behind as a kill -9 in the middle of a write would.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	b.Progress = func(done, total int) {
		if done == 5 {
			cancel()
		}
	}
	if _, err := b.Write(ctx, dir, users, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a cancelled run wrote the manifest: %v", err)
	}
	if len(tree(t, dir)) >= len(want) {
		t.Fatal("the cancel came too late to test anything")
	}
	torn := filepath.Join(dir, "users", "user007", ".index.html.tmp-12345")
	if err := os.MkdirAll(filepath.Dir(torn), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(torn, []byte("<html><bo"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Progress = nil
	if _, err := b.Write(context.Background(), dir, users, nil); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, dir); !maps.Equal(got, want) {
		t.Fatal("the resumed run differs from a clean one (or left temporary files)")
	}

	// Re-running a finished bundle rewrites nothing: modification times
	// stay put.
	st, _ := os.Stat(filepath.Join(dir, "users", "user000", "index.html"))
	if _, err := b.Write(context.Background(), dir, users, nil); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(filepath.Join(dir, "users", "user000", "index.html"))
	if !st.ModTime().Equal(st2.ModTime()) {
		t.Error("a re-run rewrote an unchanged file")
	}

	// Dropping users removes exactly their files.
	if _, err := b.Write(context.Background(), dir, users[:30], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "users", "user035")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dropped user's folder still there: %v", err)
	}
}

func TestBundleZipCarriesSharedFiles(t *testing.T) {
	b := testBundle(t)
	b.Zip = true
	dir := t.TempDir()
	users := hostileUsers()[:1]
	m, err := b.Write(context.Background(), dir, users, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkManifest(t, dir, m)
	if len(m.Files) != 1 {
		t.Fatalf("zip mode wrote %d files, want the one zip: %+v", len(m.Files), m.Files)
	}
	zf := filepath.Join(dir, m.Files[0].Path)
	testtool.MustRun(t, nil, "python3", "-m", "zipfile", "-t", zf)
	zr, err := zip.OpenReader(zf)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, strings.TrimPrefix(f.Name, users[0].Folder()+"/"))
	}
	want := []string{"account.cab", "exchange.mobileconfig", "index.html", "qr.png", "root.cab", "root.crt"}
	if !slices.Equal(names, want) {
		t.Fatalf("zip holds %q, want %q", names, want)
	}
}

func TestBundleCombinedCABInstallsRootAndAccount(t *testing.T) {
	b := testBundle(t)
	b.Combined = true
	dir := t.TempDir()
	u := User{Line: 2, Name: "jdoe", Devices: []string{"wm6"}}
	m, err := b.Write(context.Background(), dir, []User{u}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "shared/") {
			t.Errorf("combined bundle still wrote %s", f.Path)
		}
	}
	xml := testtool.MustRun(t, nil, "cabextract", "-p", "-F", "_setup.xml", filepath.Join(dir, "users", "jdoe", "account.cab"))
	for _, typ := range []string{"CertificateStore", "Sync"} {
		if got := testtool.MustRun(t, xml, "xmllint", "--xpath", `count(/wap-provisioningdoc/characteristic[@type="`+typ+`"])`, "-"); strings.TrimSpace(string(got)) != "1" {
			t.Errorf("%s characteristics: %s", typ, got)
		}
	}
}
