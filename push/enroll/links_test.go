package enroll

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// linkRunOf is a run of the bundle owner at now, a day's links below base.
func linkRunOf(owner, base string, now time.Time) LinkRun {
	return LinkRun{Owner: owner, Base: base, TTL: 24 * time.Hour, Now: now}
}

func person(user string) Link {
	return Link{Server: "mail.example.com", User: user, Email: user + "@example.com", DisplayName: "Secret " + user, Devices: []string{"ios", "wm6"}}
}

func mustIssue(t *testing.T, path string, run LinkRun, want ...Link) []Link {
	t.Helper()
	links, err := IssueLinks(path, run, want)
	if err != nil {
		t.Fatal(err)
	}
	return links
}

func mustRevoke(t *testing.T, path string, run LinkRun, printed, spared []Link) []Link {
	t.Helper()
	revoked, err := RevokeLinks(path, run, printed, spared)
	if err != nil {
		t.Fatal(err)
	}
	return revoked
}

// wantCode fetches a link's page and one of its files and wants code for
// both; a 410 must carry nothing of the person's.
func wantCode(t *testing.T, l Link, code int) {
	t.Helper()
	for _, u := range []string{l.URL, l.URL + "exchange.mobileconfig"} {
		got, _, body := get(t, u)
		if got != code {
			t.Errorf("%s (%s): %d, want %d", l.User, u, got, code)
		}
		if code == http.StatusGone && (strings.Contains(body, l.User) || !strings.Contains(body, "withdrawn on ")) {
			t.Errorf("%s's revoked link answers %q", l.User, body)
		}
	}
}

// TestDroppedFromTheCSVAnswers410: the admin removes bob from the CSV and
// runs the bundle again; once it is written, bob's link answers 410 with a
// short page and none of his files, and alice's link still works.
func TestDroppedFromTheCSVAnswers410(t *testing.T) {
	base, dir, _ := startEnroll(t, "legacy", "modern")
	path, now := linksPath(dir), time.Now()
	run := linkRunOf("/bundles/staff", base, now)
	first := mustIssue(t, path, run, person("alice"), person("bob"))
	wantCode(t, first[1], http.StatusOK)

	run.Now = now.Add(time.Minute)
	again := mustIssue(t, path, run, person("alice"))
	if again[0].Token != first[0].Token {
		t.Fatal("a rerun changed alice's token")
	}
	// The new bundle is being written: bob's printed link still works.
	wantCode(t, first[1], http.StatusOK)
	revoked := mustRevoke(t, path, run, again, nil)
	if len(revoked) != 1 || revoked[0].User != "bob" || revoked[0].Token != first[1].Token {
		t.Fatalf("revoked %+v, want bob's link", revoked)
	}
	wantCode(t, first[1], http.StatusGone)
	wantCode(t, first[0], http.StatusOK)

	// The file keeps bob's token, to answer 410, and nothing else of his.
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("links file after revoking: %v %v", fi, err)
	}
	data, _ := os.ReadFile(path)
	var f linksFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, l := range f.Links {
		if l.User == "bob" && (l.Email != "" || l.DisplayName != "" || l.Devices != nil || l.URL != "") {
			t.Errorf("bob's revoked link keeps %+v", l)
		}
	}
	// Back in the CSV, bob gets a new link, never the revoked one.
	back := mustIssue(t, path, run, person("alice"), person("bob"))
	if back[1].Token == first[1].Token {
		t.Fatal("a revoked token was issued again")
	}
	wantCode(t, back[1], http.StatusOK)
}

// TestRotatedLinksAnswer410: bundle --rotate-links gives everyone a new
// token; the old ones work until the new sheets are written, then answer
// 410 while the new ones answer 200.
func TestRotatedLinksAnswer410(t *testing.T) {
	base, dir, _ := startEnroll(t, "legacy", "modern")
	path, now := linksPath(dir), time.Now()
	run := linkRunOf("/bundles/staff", base, now)
	old := mustIssue(t, path, run, person("alice"), person("bob"))

	// In the same second as the first run: the later link still wins.
	run.Rotate = true
	rotated := mustIssue(t, path, run, person("alice"), person("bob"))
	for i := range old {
		if rotated[i].Token == old[i].Token {
			t.Fatalf("%s kept the token", old[i].User)
		}
		wantCode(t, old[i], http.StatusOK)
	}
	// A run stopped here and run again without --rotate-links prints the
	// new tokens and revokes the old.
	run.Rotate = false
	rerun := mustIssue(t, path, run, person("alice"), person("bob"))
	if rerun[0].Token != rotated[0].Token || rerun[1].Token != rotated[1].Token {
		t.Fatal("the rerun of a stopped rotation did not print the rotated links")
	}
	if revoked := mustRevoke(t, path, run, rerun, nil); len(revoked) != 2 {
		t.Fatalf("revoked %+v, want the two old links", revoked)
	}
	for i := range old {
		wantCode(t, old[i], http.StatusGone)
		wantCode(t, rotated[i], http.StatusOK)
	}
}

// TestOtherBundlesKeepTheirLinks: each bundle (output directory) owns its
// links. Dropping alice from one bundle leaves the link another bundle
// printed for her, and the people listed in rows skipped as bad keep theirs.
func TestOtherBundlesKeepTheirLinks(t *testing.T) {
	base, dir, _ := startEnroll(t, "legacy", "modern")
	path, now := linksPath(dir), time.Now()
	sales, ops := linkRunOf("/bundles/sales", base, now), linkRunOf("/bundles/ops", base, now)
	salesLinks := mustIssue(t, path, sales, person("alice"))
	opsLinks := mustIssue(t, path, ops, person("alice"), person("carol"))
	if opsLinks[0].Token == salesLinks[0].Token {
		t.Fatal("two bundles share a link")
	}
	printed := mustIssue(t, path, ops, person("dave"))
	revoked := mustRevoke(t, path, ops, printed, []Link{{Server: "MAIL.example.com", User: "Carol"}})
	if len(revoked) != 1 || revoked[0].Token != opsLinks[0].Token {
		t.Fatalf("revoked %+v, want ops' link of alice only", revoked)
	}
	wantCode(t, opsLinks[0], http.StatusGone)
	wantCode(t, salesLinks[0], http.StatusOK)
	wantCode(t, opsLinks[1], http.StatusOK)
}

// TestLinksWithoutOwnerAreAdopted: links written before links had owners
// belong to the bundle whose previous manifest lists their people; the
// rest are left alone.
func TestLinksWithoutOwnerAreAdopted(t *testing.T) {
	base, dir, _ := startEnroll(t, "legacy", "modern")
	path, now := linksPath(dir), time.Now()
	legacy := mustIssue(t, path, linkRunOf("", base, now), person("alice"), person("bob"), person("erin"))
	run := linkRunOf("/bundles/staff", base, now)
	run.Adopt = []Link{{Server: "mail.example.com", User: "ALICE"}, {Server: "mail.example.com", User: "bob"}}
	printed := mustIssue(t, path, run, person("alice"))
	if printed[0].Token != legacy[0].Token {
		t.Fatal("alice's adopted link was not kept")
	}
	if revoked := mustRevoke(t, path, run, printed, nil); len(revoked) != 1 || revoked[0].User != "bob" {
		t.Fatalf("revoked %+v, want bob's", revoked)
	}
	wantCode(t, legacy[0], http.StatusOK)
	wantCode(t, legacy[1], http.StatusGone)
	wantCode(t, legacy[2], http.StatusOK)
}
