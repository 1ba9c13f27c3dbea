package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/provision"
)

// listTree is every name under dir, to tell that a refused command wrote
// nothing there.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		names = append(names, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func writeUsers(t *testing.T, data []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestBundleOutIntoTheStateDir: --out equal to --dir, inside it, around
// it, or reaching it through a link would put the bundle beside the server
// keys, the admin token and the password hashes.
func TestBundleOutIntoTheStateDir(t *testing.T) {
	dir, _, _ := initCA(t, "wm6")
	users := writeUsers(t, []byte("user\njdoe\n"))
	link := filepath.Join(t.TempDir(), "state-link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, dir)
	for _, out := range []string{dir, filepath.Join(dir, "bundle"), filepath.Join(dir, "push", "new", "bundle"), filepath.Join(link, "bundle"), dir + "/certs/../bundle"} {
		r := runPushca(t, nil, "--dir", dir, "bundle", "--users", users, "--server", "mail.test", "--profile", "wm6", "--out", out)
		if r.code == 0 || !strings.Contains(r.stderr, "--out "+out+" is inside the state directory "+dir) {
			t.Errorf("--out %s: exit %d, %s", out, r.code, r.stderr)
		}
	}
	for _, out := range []string{filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))} {
		r := runPushca(t, nil, "--dir", dir, "bundle", "--users", users, "--server", "mail.test", "--profile", "wm6", "--out", out)
		if r.code == 0 || !strings.Contains(r.stderr, "--out "+out+" holds the state directory "+dir) {
			t.Errorf("--out %s: exit %d, %s", out, r.code, r.stderr)
		}
	}
	if after := listTree(t, dir); !slices.Equal(after, before) {
		t.Errorf("a refused bundle changed the state directory:\n%v\n%v", before, after)
	}
	// Beside it is fine.
	mustPushca(t, nil, "--dir", dir, "bundle", "--users", users, "--server", "mail.test", "--profile", "wm6", "--out", dir+"-bundle")
}

// TestStateDirWithLaxModes: a key file others may read is refused, as ssh
// refuses such a private key; a directory others may write is warned
// about.
func TestStateDirWithLaxModes(t *testing.T) {
	dir, _, _ := initCA(t, "wm6")
	users := writeUsers(t, []byte("user\njdoe\n"))
	out := filepath.Join(t.TempDir(), "bundle")
	bundle := []string{"--dir", dir, "bundle", "--users", users, "--server", "mail.test", "--profile", "wm6", "--out", out}
	key := ca.Layout{Dir: dir}.RootKey()
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runPushca(t, nil, bundle...)
	if r.code == 0 || !strings.Contains(r.stderr, key+" (mode 0644)") || !strings.Contains(r.stderr, "chmod -R go-rwx "+dir) {
		t.Errorf("0644 root key: exit %d, %s", r.code, r.stderr)
	}
	if _, _, err := run(t, dir, "package", "wm", "--certs-only", "--out", filepath.Join(t.TempDir(), "r.cab")); err == nil || !strings.Contains(err.Error(), key) {
		t.Errorf("package with a 0644 root key: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused bundle was written")
	}

	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Dir(ca.Layout{Dir: dir}.RootCert())
	if err := os.Chmod(certs, 0o777); err != nil {
		t.Fatal(err)
	}
	r = runPushca(t, nil, bundle...)
	if r.code != 0 || !strings.Contains(r.stderr, "warning: --dir: "+certs+" (mode 0777) is writable by group or others") {
		t.Errorf("0777 certs directory: exit %d, %s", r.code, r.stderr)
	}
}

// TestBundleSpreadsheetExports runs a bundle from the files Excel writes
// in other locales: semicolons, and "Unicode Text" (UTF-16, tabs).
func TestBundleSpreadsheetExports(t *testing.T) {
	dir, _, _ := initCA(t, "wm6,ios")
	tabs := "User\tE-mail\tDevices\r\njdoe\tjdoe@example.com\twm6 ios\r\nJöhn\t\tios\r\n"
	var unicodeText []byte
	for _, u := range utf16.Encode([]rune("\ufeff" + tabs)) {
		unicodeText = binary.LittleEndian.AppendUint16(unicodeText, u)
	}
	for name, data := range map[string][]byte{
		"semicolons":   []byte("User;E-mail;Devices\r\njdoe;jdoe@example.com;\"wm6;ios\"\r\nJöhn;;ios\r\n"),
		"Unicode Text": unicodeText,
	} {
		out := filepath.Join(t.TempDir(), "bundle")
		stdout := mustPushca(t, nil, "--dir", dir, "bundle", "--users", writeUsers(t, data), "--server", "mail.test", "--profile", "wm6", "--out", out)
		if !strings.Contains(stdout, "wrote 2 users") {
			t.Errorf("%s: %s", name, stdout)
		}
		for _, f := range []string{"users/jdoe/account.cab", "users/jdoe/exchange.mobileconfig", "users/" + provision.User{Name: "Jöhn"}.Folder() + "/exchange.mobileconfig"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// TestBundleOneBadRow: the counts in the refusal agree with their nouns,
// and with no good row the hint does not offer --skip-invalid's zero.
func TestBundleOneBadRow(t *testing.T) {
	dir, _, _ := initCA(t, "wm6")
	out := filepath.Join(t.TempDir(), "bundle")
	for csv, want := range map[string]string{
		"user,email\njdoe,a@\n":                "1 bad row, nothing written (fix it; no row is good, so --skip-invalid would write nothing)",
		"user,email\njdoe,a@\nasmith,\n":       "1 bad row, nothing written (fix it, or give --skip-invalid to write the good one)",
		"user,email\na,@b\nb,x@y@z\nc,<x@y>\n": "3 bad rows, nothing written (fix them; no row is good",
	} {
		users := writeUsers(t, []byte(csv))
		r := runPushca(t, nil, "--dir", dir, "bundle", "--users", users, "--server", "mail.test", "--profile", "wm6", "--out", out)
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("%q: exit %d, %s", csv, r.code, r.stderr)
		}
	}
	users := writeUsers(t, []byte("user,email\njdoe,a@\nasmith,\n"))
	stdout := mustPushca(t, nil, "--dir", dir, "bundle", "--users", users, "--server", "mail.test", "--profile", "wm6", "--out", out, "--skip-invalid")
	if !strings.Contains(stdout, "wrote 1 user, 3 files") || !strings.Contains(stdout, "skipped 1 bad row (") {
		t.Errorf("--skip-invalid: %s", stdout)
	}
}

// TestServerNames: --server must be a host name a certificate can carry;
// an international one is packaged as punycode and shown in both forms.
func TestServerNames(t *testing.T) {
	dir, _, _ := initCA(t, "wm6,ios")
	work := t.TempDir()
	for _, bad := range []string{`mail<x>&"y`, "mail example.com", "a_b.example", "*.example.com", "-mail.example"} {
		for _, args := range [][]string{
			{"package", "wm", "--server", bad, "--user", "u", "--out", filepath.Join(work, "x.cab")},
			{"package", "ios", "--server", bad, "--user", "u", "--out", filepath.Join(work, "x.mobileconfig")},
		} {
			if _, _, err := run(t, dir, args...); err == nil || !strings.Contains(err.Error(), "--server") || !strings.Contains(err.Error(), "not a host name") {
				t.Errorf("%v: %v", args, err)
			}
		}
		r := runPushca(t, nil, "--dir", dir, "bundle", "--users", writeUsers(t, []byte("user\njdoe\n")), "--server", bad, "--out", filepath.Join(work, "b"))
		if r.code == 0 || !strings.Contains(r.stderr, "--server") {
			t.Errorf("bundle --server %q: exit %d, %s", bad, r.code, r.stderr)
		}
	}
	if left, _ := os.ReadDir(work); len(left) > 0 {
		t.Errorf("refused commands wrote %v", left)
	}

	cab := filepath.Join(work, "idn.cab")
	stdout := mustRun(t, dir, "package", "wm", "--server", "Bücher.Example", "--user", "u", "--out", cab)
	if !strings.Contains(stdout, "server xn--bcher-kva.example (bücher.example)") {
		t.Errorf("both forms not shown: %s", stdout)
	}
	if got := testtool.XPath(t, testtool.CABSetup(t, cab), `//characteristic[@type="Connection"]/parm[@name="Server"]/@value`); got != "xn--bcher-kva.example" {
		t.Errorf("CAB carries server %q", got)
	}
	out := filepath.Join(work, "bundle")
	stdout = mustPushca(t, nil, "--dir", dir, "bundle", "--users", writeUsers(t, []byte("user,devices\njdoe,ios\n")), "--server", "bücher.example", "--out", out)
	if !strings.Contains(stdout, "server xn--bcher-kva.example (bücher.example)") {
		t.Errorf("bundle does not show both forms: %s", stdout)
	}
	if mc, _ := os.ReadFile(filepath.Join(out, "users", "jdoe", "exchange.mobileconfig")); !strings.Contains(string(mc), "<string>xn--bcher-kva.example</string>") {
		t.Error("the .mobileconfig does not carry the punycode host")
	}
}
