package state

import (
	"bytes"
	"maps"
	"testing"
)

func TestNormalizeUser(t *testing.T) {
	for in, want := range map[string]string{
		`alice`: "alice", `CORP\Alice`: "alice", `alice@corp.example`: "alice", ` Alice `: "alice",
	} {
		if got, err := NormalizeUser(in); err != nil || got != want {
			t.Errorf("NormalizeUser(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", `CORP\`, "@corp", "a:b", "a b", "a\x00b"} {
		if got, err := NormalizeUser(bad); err == nil {
			t.Errorf("NormalizeUser(%q) = %q, want an error", bad, got)
		}
	}
}

// TestLoginFormsMapToOneUser: whatever form a device sends the user in,
// the same users-file entry checks it, whatever the domain says.
func TestLoginFormsMapToOneUser(t *testing.T) {
	for login, want := range map[string]string{
		"jdoe": "jdoe", " JDoe ": "jdoe",
		`CORP\jdoe`: "jdoe", `corp.example\JDOE`: "jdoe", `A\B\jdoe`: "jdoe",
		"jdoe@corp.example": "jdoe", "JDOE@partner.example": "jdoe",
		`CORP\jdoe@corp.example`: "jdoe",
	} {
		if got, err := NormalizeUser(login); err != nil || got != want {
			t.Errorf("login %q maps to %q, %v; want %q", login, got, err, want)
		}
	}
}

func FuzzParseUsers(f *testing.F) {
	f.Add([]byte("# c\nalice:$2a$04$abcdefghijklmnopqrstuuDuzGSrC7.3qU1dT0x1M1x2w6JGVa3n6\n"))
	f.Add([]byte("bob:$2y$10$abcdefghijklmnopqrstuv\n\n"))
	f.Add([]byte("a:b:c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := ParseUsers(data)
		if err != nil {
			return
		}
		// What we write, we read back the same.
		again, err := ParseUsers(formatUsers(users))
		if err != nil || !maps.EqualFunc(users, again, bytes.Equal) {
			t.Fatalf("round trip: %v\n%q\n%q", err, users, again)
		}
	})
}

func FuzzNormalizeUser(f *testing.F) {
	for _, s := range []string{`CORP\alice`, "alice@corp", "Alice", "", `\`, "a\u00a0b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeUser(s)
		if err != nil {
			return
		}
		if again, err := NormalizeUser(n); err != nil || again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q %v", s, n, again, err)
		}
	})
}
