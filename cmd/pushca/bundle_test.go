package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/provision"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/enroll"
)

// bundleCSV is a user list as Excel saves it (BOM, CRLF, quoted fields)
// with names that break XML, HTML, plists and CSV itself, non-ASCII and
// 300 characters long. The provision tests prove each document escapes
// such names; this one proves they arrive there from a CSV file through
// the command, and that what lands on disk is what the manifest says.
func bundleCSV() (csv string, names []string) {
	long := strings.Repeat("ü", 290) + "<&>\"'"
	names = []string{`a"b<c>&d'<key>]]>`, "日本語ユーザー", long, `x,y;z`}
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	rows := []string{
		"\ufeffUser,E-mail,Display Name,Domain,Devices",
		quote(names[0]) + `,a&b@example.com,"</title><script>alert(1)</script>",CORP&<>,wm6 ios android`,
		names[1] + ",nihon@example.jp,Jöhn,,ios",
		quote(long) + ",,,,wm5",
		quote(names[3]) + `,,"Multi, Comma",,wm65 android`,
	}
	return strings.Join(rows, "\r\n") + "\r\n", names
}

func TestBundleThroughTheBinary(t *testing.T) {
	pki := newCLIPKI(t)
	work := t.TempDir()
	csv, names := bundleCSV()
	users := filepath.Join(work, "users.csv")
	if err := os.WriteFile(users, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "bundle")
	args := []string{"--dir", pki.dir, "bundle", "--users", users, "--server", "mail.example.com", "--domain", "EXAMPLE", "--out", out}
	r := runPushca(t, nil, append(args, "--json")...)
	if r.code != 0 {
		t.Fatalf("bundle: exit %d\n%s", r.code, r.stderr)
	}
	var rep bundleReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if rep.Users != len(names) || rep.RootSHA256 != provision.SHA256(pki.root).Colon() {
		t.Fatalf("--json report: %+v", rep)
	}
	// stderr is a pipe here: plain progress lines, no bar.
	if !strings.Contains(r.stderr, "bundle: 4/4 users") || strings.Contains(r.stderr, "\r") {
		t.Errorf("progress on a non-terminal: %q", r.stderr)
	}
	manifest, err := os.ReadFile(filepath.Join(out, provision.ManifestName))
	if err != nil {
		t.Fatal(err)
	}

	var cabs []string
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".cab") {
			cabs = append(cabs, p)
		}
		return err
	})
	if len(cabs) != 4 { // the shared root CAB and three account CABs
		t.Fatalf("CABs written: %q", cabs)
	}
	for _, cab := range cabs {
		testtool.MustRun(t, nil, "cabextract", "-t", cab)
		xml := testtool.MustRun(t, nil, "cabextract", "-p", "-F", "_setup.xml", cab)
		testtool.MustRun(t, xml, "xmllint", "--noout", "-")
	}

	// python3 checks every manifest entry against the file on disk
	// (hashlib) and that nothing unlisted was written, then reads the
	// names back with plistlib and html.parser.
	script := testtool.PySheetParser + `
import hashlib, json, os, plistlib, sys
out = sys.argv[1]
m = json.load(open(os.path.join(out, "manifest.json")))
listed = {f["path"] for f in m["files"]} | {"manifest.json"}
for f in m["files"]:
    data = open(os.path.join(out, f["path"]), "rb").read()
    assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"], f["path"]
on_disk = {os.path.relpath(os.path.join(d, n), out) for d, _, ns in os.walk(out) for n in ns}
assert on_disk == listed, on_disk ^ listed
names = {}
for f in m["files"]:
    p = os.path.join(out, f["path"])
    if p.endswith(".mobileconfig"):
        pl = plistlib.load(open(p, "rb"))
        eas = [x for x in pl["PayloadContent"] if x["PayloadType"] == "com.apple.eas.account"][0]
        names.setdefault(f["user"], {})["plist"] = eas["UserName"]
    if p.endswith(".html"):
        h = P(); h.feed(open(p, encoding="utf-8").read()); h.close()
        assert h.scripts == 0, p
        names.setdefault(f["user"], {})["html"] = h.ids["user"]
print(json.dumps(names))
`
	var got map[string]map[string]string
	if err := json.Unmarshal(testtool.MustRun(t, nil, "python3", "-c", script, out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(names) {
		t.Fatalf("users in the manifest: %v", got)
	}
	for _, n := range names {
		if got[n]["html"] != n {
			t.Errorf("sheet of %q reads user %q", n, got[n]["html"])
		}
	}
	for n, domain := range map[string]string{names[0]: "CORP&<>", names[1]: "EXAMPLE"} {
		if want := domain + `\` + n; got[n]["plist"] != want {
			t.Errorf("mobileconfig of %q reads UserName %q, want %q", n, got[n]["plist"], want)
		}
	}

	// The same inputs again: the same manifest, byte for byte.
	mustPushca(t, nil, args...)
	if again, _ := os.ReadFile(filepath.Join(out, provision.ManifestName)); string(again) != string(manifest) {
		t.Error("re-running the same bundle changed the manifest")
	}
}

func TestBundleBadRowsWriteNothing(t *testing.T) {
	pki := newCLIPKI(t)
	work := t.TempDir()
	csv := strings.Join([]string{
		"user,email,devices",
		"good,good@example.com,ios",
		"nomail,not-an-address,ios",
		"dev,,wm7",
		strings.Repeat("x", 1100) + ",,",
		"GOOD,,",
		"fine,,android",
	}, "\n") + "\n"
	users := filepath.Join(work, "users.csv")
	if err := os.WriteFile(users, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "bundle")
	args := []string{"--dir", pki.dir, "bundle", "--users", users, "--server", "mail.example.com", "--out", out}
	r := runPushca(t, nil, args...)
	if r.code == 0 {
		t.Fatal("bad rows: exit 0")
	}
	for _, want := range []string{
		users + `: line 3 (user "nomail"): email "not-an-address": no @`,
		users + `: line 4 (user "dev"): devices: "wm7"`,
		users + `: line 5 (user "xxx`,
		"at most 1024",
		users + `: line 6 (user "GOOD"): duplicate user: line 2`,
		"4 bad rows, nothing written",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("bad rows still created %s: %v", out, err)
	}

	r = runPushca(t, nil, append(args, "--skip-invalid", "--json")...)
	if r.code != 0 {
		t.Fatalf("--skip-invalid: exit %d\n%s", r.code, r.stderr)
	}
	var rep bundleReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Users != 2 || len(rep.Skipped) != 4 {
		t.Fatalf("--skip-invalid report %+v (%v)", rep, err)
	}
	m, err := provision.ReadManifest(out)
	if err != nil || m == nil || len(m.Skipped) != 4 || m.Skipped[0].Line != 3 {
		t.Fatalf("manifest skipped rows: %+v %v", m, err)
	}
	for _, u := range []string{"good", "fine"} {
		if _, err := os.Stat(filepath.Join(out, "users", u, "index.html")); err != nil {
			t.Error(err)
		}
	}

	// A file that is not a user list at all names the file and the problem.
	if err := os.WriteFile(users, []byte("name,phone\nx,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runPushca(t, nil, args...); r.code == 0 || !strings.Contains(r.stderr, users+`: header: unknown column "name"`) {
		t.Errorf("unusable CSV: exit %d, %s", r.code, r.stderr)
	}
}

// TestBundleLinksOpenOnServe follows a printed QR code: bundle --base-url
// against a running serve, zbarimg reads each sheet's code, and the page
// it names is the user's, served by serve's enrollment listener.
func TestBundleLinksOpenOnServe(t *testing.T) {
	dir, _, _ := initCA(t, "wm6,ios")
	srv, addrs := startServe(t, dir, "--host", "mail.test")
	base := "http://" + addrs["Enrollment"]

	work := t.TempDir()
	names := []string{`O'Brien <"ops"> & co`, "jdoe"}
	csv := "user,devices\n\"O'Brien <\"\"ops\"\"> & co\",ios wm6\njdoe,android\n"
	users := filepath.Join(work, "users.csv")
	if err := os.WriteFile(users, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "bundle")
	args := []string{"--dir", dir, "bundle", "--users", users, "--server", "mail.test", "--out", out, "--base-url", base}
	mustPushca(t, nil, args...)
	if fi, err := os.Stat(push.LinksPath(dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("links file: %v %v", fi, err)
	}
	manifest, _ := os.ReadFile(filepath.Join(out, provision.ManifestName))

	for _, n := range names {
		qr := filepath.Join(out, "users", provision.User{Name: n}.Folder(), "qr.png")
		link := strings.TrimSpace(string(testtool.MustRun(t, nil, "zbarimg", "--raw", "-q", qr)))
		if !strings.HasPrefix(link, base+enroll.LinkPath) {
			t.Fatalf("%s: QR decodes to %q", n, link)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `<td id="user">`+html.EscapeString(n)+`</td>`) {
			t.Errorf("%s: %s gives %d\n%s", n, link, resp.StatusCode, page)
		}
	}
	// The links are kept: running the bundle again prints the same codes.
	mustPushca(t, nil, args...)
	if again, _ := os.ReadFile(filepath.Join(out, provision.ManifestName)); string(again) != string(manifest) {
		t.Error("re-running with --base-url changed the bundle")
	}
	srv.stop(t, syscall.SIGTERM)
}

// TestBundleNeedsTheDeviceFamily is the proof: an iPhone row under a
// Windows Mobile CA is refused with one line naming the person, the device
// kinds and the command that adds the family; after that command the same
// bundle is written, and every package carries the one root, Windows Mobile's
// with the legacy intermediate in its CA store.
func TestBundleNeedsTheDeviceFamily(t *testing.T) {
	dir, env, root := initCA(t, "wm5")
	work := t.TempDir()
	users := filepath.Join(work, "users.csv")
	csv := "user,email,devices\nalice,alice@example.test,wm5 ios android\nbob,,wm6\n"
	if err := os.WriteFile(users, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "bundle")
	args := []string{"--dir", dir, "bundle", "--users", users, "--server", "mail.test", "--out", out}
	r := runPushca(t, nil, args...)
	want := `pushca: ` + users + `: line 2 (user "alice"): android, ios devices need the modern chain family, which this CA lacks; add it with ` +
		"`pushca --dir " + dir + " ca add-family modern`\n"
	if r.code == 0 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "alice") != 1 || strings.Contains(r.stderr, "bob") {
		t.Fatalf("bundle under a legacy CA: exit %d, stderr:\n%s\nwant the one line %q", r.code, r.stderr, want)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused bundle created %s: %v", out, err)
	}

	// --skip-invalid writes the others and records the refusal.
	skipped := filepath.Join(work, "skipped")
	var rep bundleReport
	if err := json.Unmarshal([]byte(mustPushca(t, nil, append(args[:len(args)-1], skipped, "--skip-invalid", "--json")...)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Users != 1 || len(rep.Skipped) != 1 || rep.Skipped[0].User != "alice" {
		t.Fatalf("--skip-invalid report %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(skipped, "users", "alice")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a skipped user got a folder: %v", err)
	}

	mustPushca(t, env, "--dir", dir, "ca", "add-family", "modern")
	mustPushca(t, nil, args...)
	cabRoot, cabCA := testtool.CABCertificates(t, filepath.Join(out, "shared", "root.cab"))
	mcRoot := testtool.MobileconfigRoot(t, filepath.Join(out, "users", "alice", "exchange.mobileconfig"))
	crt, err := os.ReadFile(filepath.Join(out, "shared", "root.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cabRoot, root.Raw) || !bytes.Equal(mcRoot, root.Raw) || !bytes.Equal(crt, root.Raw) {
		t.Error("the root in the CAB, the .mobileconfig and the .crt are not all the CA's one root")
	}
	if want := []string{intermediateSHA1(t, dir, "legacy")}; !slices.Equal(cabCA, want) {
		t.Errorf("root CAB's CA store holds %q, want the legacy intermediate %q (never the modern one %s)", cabCA, want, intermediateSHA1(t, dir, "modern"))
	}
}
