package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/provision"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/enroll"
)

// linksBed is a CA served on loopback and a bundle of it with links.
type linksBed struct {
	dir, base, out string
	args           []string
}

func newLinksBed(t *testing.T) linksBed {
	t.Helper()
	dir, _, _ := initCA(t, "wm6,ios")
	srv, addrs := startServe(t, dir, "--host", "mail.test")
	t.Cleanup(func() { srv.stop(t, syscall.SIGTERM) })
	b := linksBed{dir: dir, base: "http://" + addrs["Enrollment"], out: filepath.Join(t.TempDir(), "bundle")}
	b.args = []string{"--dir", dir, "bundle", "--server", "mail.test", "--profile", "ios", "--out", b.out, "--base-url", b.base}
	return b
}

// link is the enrollment link the QR code on user's sheet carries.
func (b linksBed) link(t *testing.T, user string) string {
	t.Helper()
	qr := filepath.Join(b.out, "users", provision.User{Name: user}.Folder(), "qr.png")
	link := strings.TrimSpace(string(testtool.MustRun(t, nil, "zbarimg", "--raw", "-q", qr)))
	if !strings.HasPrefix(link, b.base+enroll.LinkPath) {
		t.Fatalf("%s: QR decodes to %q", user, link)
	}
	return link
}

// wantStatus fetches a link's page and its profile and wants code for both.
// A revoked link's answer names no one.
func wantStatus(t *testing.T, who, link string, code int) {
	t.Helper()
	for _, u := range []string{link, link + "exchange.mobileconfig"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("%s's %s: %d, want %d", who, u, resp.StatusCode, code)
		}
		if code == http.StatusGone && (strings.Contains(string(body), who) || !strings.Contains(string(body), "withdrawn on ")) {
			t.Errorf("%s's revoked link answers %q", who, body)
		}
	}
}

// snapshot is every entry under roots with its mode and content digest,
// except those under skip.
func snapshot(t *testing.T, roots []string, skip ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			for _, s := range skip {
				if p == s {
					return fs.SkipDir
				}
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			m[p] = fi.Mode().String()
			if fi.Mode().IsRegular() {
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				m[p] += fmt.Sprintf(" %x", sha256.Sum256(data))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestBundleDroppingAPersonRevokesTheirLink: the admin removes asmith from
// the CSV and runs the same bundle again. Her link then answers 410 on the
// running server, jdoe's still opens his page, the output says what was
// revoked, and nothing outside --out and the links file changed.
func TestBundleDroppingAPersonRevokesTheirLink(t *testing.T) {
	b := newLinksBed(t)
	both, one := writeUsers(t, []byte("user\njdoe\nasmith\n")), writeUsers(t, []byte("user\njdoe\n"))
	mustPushca(t, nil, append(b.args, "--users", both)...)
	jdoe, asmith := b.link(t, "jdoe"), b.link(t, "asmith")
	wantStatus(t, "asmith", asmith, http.StatusOK)

	roots := []string{b.dir, filepath.Dir(b.out), filepath.Dir(one)}
	before := snapshot(t, roots, b.out, push.LinksPath(b.dir))
	r := runPushca(t, nil, append(b.args, "--users", one)...)
	want := `revoked the enrollment links of 1 person no longer in --users ("asmith"): they answer 410 Gone`
	if r.code != 0 || !strings.Contains(r.stdout, want) || strings.Contains(r.stderr, "warning") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s\nwant %s", r.code, r.stdout, r.stderr, want)
	}
	wantStatus(t, "asmith", asmith, http.StatusGone)
	wantStatus(t, "jdoe", jdoe, http.StatusOK)
	if b.link(t, "jdoe") != jdoe {
		t.Error("the rerun changed jdoe's link")
	}
	if _, err := os.Stat(filepath.Join(b.out, "users", "asmith")); !os.IsNotExist(err) {
		t.Errorf("the dropped person's folder: %v", err)
	}
	if after := snapshot(t, roots, b.out, push.LinksPath(b.dir)); !maps.Equal(before, after) {
		t.Errorf("files outside --out and the links file changed:\nbefore %v\nafter  %v", before, after)
	}
	if fi, err := os.Stat(push.LinksPath(b.dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("links file: %v %v", fi, err)
	}
	// Running it again revokes nothing more.
	if out := mustPushca(t, nil, append(b.args, "--users", one)...); strings.Contains(out, "revoked") {
		t.Errorf("a rerun revoked again: %s", out)
	}
}

// TestBundleRotateLinks: the admin reruns the bundle with --rotate-links.
// Every sheet gets a new link that opens, the old ones answer 410, the
// report lists them as replaced, and nothing outside --out and the links
// file changed.
func TestBundleRotateLinks(t *testing.T) {
	b := newLinksBed(t)
	users := writeUsers(t, []byte("user\njdoe\nasmith\n"))
	args := append(b.args, "--users", users)
	mustPushca(t, nil, args...)
	old := map[string]string{"jdoe": b.link(t, "jdoe"), "asmith": b.link(t, "asmith")}

	roots := []string{b.dir, filepath.Dir(b.out), filepath.Dir(users)}
	before := snapshot(t, roots, b.out, push.LinksPath(b.dir))
	var rep bundleReport
	if err := json.Unmarshal([]byte(mustPushca(t, nil, append(args, "--rotate-links", "--json")...)), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.RevokedLinks) != 2 || rep.RevokedLinks[0].Reason != "replaced" || rep.RevokedLinks[1].Reason != "replaced" {
		t.Errorf("report: %+v", rep.RevokedLinks)
	}
	for who, link := range old {
		now := b.link(t, who)
		if now == link {
			t.Errorf("%s kept the link", who)
		}
		wantStatus(t, who, link, http.StatusGone)
		wantStatus(t, who, now, http.StatusOK)
	}
	if after := snapshot(t, roots, b.out, push.LinksPath(b.dir)); !maps.Equal(before, after) {
		t.Errorf("files outside --out and the links file changed:\nbefore %v\nafter  %v", before, after)
	}

	r := runPushca(t, nil, "--dir", b.dir, "bundle", "--server", "mail.test", "--out", b.out, "--users", users, "--rotate-links")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--rotate-links needs --base-url") {
		t.Errorf("--rotate-links without --base-url: exit %d, %s", r.code, r.stderr)
	}
}

// TestBundleStoppedMidwayKeepsTheOldLinks: a --rotate-links run that fails
// while writing the bundle revokes nothing, so the sheets already handed
// out still open; the run after it prints the new links and revokes the old.
func TestBundleStoppedMidwayKeepsTheOldLinks(t *testing.T) {
	b := newLinksBed(t)
	users := writeUsers(t, []byte("user\njdoe\n"))
	args := append(b.args, "--users", users)
	mustPushca(t, nil, args...)
	old := b.link(t, "jdoe")

	// A file where the users' folders go makes the bundle fail midway.
	sheets := filepath.Join(b.out, "users")
	if err := os.Rename(sheets, sheets+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sheets, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	issued, _ := os.ReadFile(push.LinksPath(b.dir))
	if r := runPushca(t, nil, append(args, "--rotate-links")...); r.code == 0 {
		t.Fatalf("the bundle was written over a file: %s", r.stdout)
	}
	// It failed after issuing the new links.
	if now, _ := os.ReadFile(push.LinksPath(b.dir)); string(now) == string(issued) {
		t.Fatal("the failed run stopped before issuing links")
	}
	wantStatus(t, "jdoe", old, http.StatusOK)

	if err := os.Remove(sheets); err != nil {
		t.Fatal(err)
	}
	if out := mustPushca(t, nil, args...); !strings.Contains(out, "revoked 1 old enrollment link that this run replaced") {
		t.Errorf("the completing run: %s", out)
	}
	wantStatus(t, "jdoe", old, http.StatusGone)
	wantStatus(t, "jdoe", b.link(t, "jdoe"), http.StatusOK)
}
