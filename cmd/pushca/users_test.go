package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/push"
)

// TestUsersAddJdoeOfTwoDomains: an administrator adds jdoe@corp.example,
// then jdoe@partner.example. Both used to be saved as jdoe, the second
// password silently replacing the first.
func TestUsersAddJdoeOfTwoDomains(t *testing.T) {
	dir := t.TempDir()
	pwFile := func(pw string) string {
		f := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if out := mustPushca(t, nil, "--dir", dir, "users", "add", "jdoe@corp.example", "--password-file", pwFile("corp secret")); !strings.Contains(out, "user jdoe saved") {
		t.Fatalf("first add: %s", out)
	}
	before, err := os.ReadFile(push.UsersPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	r := runPushca(t, nil, "--dir", dir, "users", "add", "jdoe@partner.example", "--password-file", pwFile("partner secret"))
	if r.code != 1 || !strings.Contains(r.stderr, "user jdoe already exists") || !strings.Contains(r.stderr, "pushca users add jdoe") {
		t.Fatalf("second jdoe: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if after, _ := os.ReadFile(push.UsersPath(dir)); string(after) != string(before) {
		t.Error("the refused add changed the users file")
	}
	var names []string
	if err := json.Unmarshal([]byte(mustPushca(t, nil, "--dir", dir, "users", "list", "--json")), &names); err != nil || len(names) != 1 || names[0] != "jdoe" {
		t.Fatalf("users list: %v %v", names, err)
	}
	users, err := push.OpenUsers(push.UsersPath(dir), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !users.Verify(`CORP\jdoe`, "corp secret") || users.Verify("jdoe@partner.example", "partner secret") {
		t.Error("jdoe's password is not the first one's")
	}
}
