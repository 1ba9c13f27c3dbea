package push

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsersAddSameNameInTwoDomains: `users add jdoe@corp.example`, then
// `users add jdoe@partner.example` with another password. The second used
// to be stored as jdoe too, silently replacing the first one's password.
func TestUsersAddSameNameInTwoDomains(t *testing.T) {
	dir := t.TempDir()
	u := testUsers(t, dir)
	if err := u.Add("jdoe@corp.example", "corp secret"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "users"))
	for _, other := range []string{"jdoe@partner.example", `PARTNER\jdoe`, `PARTNER\JDoe@partner.example`, "jdoe@corp.example"} {
		err := u.Add(other, "partner secret")
		if err == nil || !strings.Contains(err.Error(), "user jdoe already exists") || !strings.Contains(err.Error(), "pushca users add jdoe") {
			t.Errorf("Add(%q) over jdoe: %v, want a refusal naming the bare name", other, err)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "users")); string(after) != string(before) {
		t.Errorf("a refused add rewrote the users file:\n%s\nwas:\n%s", after, before)
	}
	if !u.Verify("jdoe", "corp secret") || u.Verify("jdoe@partner.example", "partner secret") {
		t.Error("jdoe's password changed")
	}
	if err := u.Remove(`PARTNER\jdoe`); err == nil || !u.Has("jdoe") {
		t.Errorf("remove PARTNER\\jdoe took jdoe's account: %v", err)
	}
	// The bare name is the account's own: it changes the password.
	if err := u.Add("JDoe", "new secret"); err != nil || !u.Verify(`CORP\jdoe`, "new secret") {
		t.Errorf("changing jdoe's password by its bare name: %v", err)
	}
}
