package push

import (
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// countingUsers counts the bcrypt comparisons behind Verify and lets the
// test move the clock; its file is dir/users.
func countingUsers(t *testing.T, dir string) (*Users, *int, *time.Time) {
	t.Helper()
	u := testUsers(t, dir)
	calls, now := 0, time.Now()
	u.compare = func(hash, pw []byte) error { calls++; return bcrypt.CompareHashAndPassword(hash, pw) }
	u.now = func() time.Time { return now }
	return u, &calls, &now
}

// TestVerifiedLoginsSkipBcrypt: a device's repeated login costs one bcrypt
// comparison per verifiedTTL, and the cache never lets a wrong password,
// a changed password or a removed user through.
func TestVerifiedLoginsSkipBcrypt(t *testing.T) {
	dir := t.TempDir()
	u, calls, now := countingUsers(t, dir)
	for i := range 3 {
		if !u.Verify(`CORP\Alice`, "secret") {
			t.Fatalf("login %d refused", i)
		}
	}
	if *calls != 1 {
		t.Fatalf("%d bcrypt comparisons for three logins, want 1", *calls)
	}
	if u.Verify("alice", "Secret") || u.Verify("alice", "secret ") || u.Verify("alice", "") {
		t.Fatal("a wrong password passed on the strength of the cache")
	}
	if *calls != 4 {
		t.Fatalf("wrong passwords must each cost a bcrypt comparison: %d calls", *calls)
	}
	*now = now.Add(verifiedTTL + time.Second)
	if !u.Verify("alice", "secret") || *calls != 5 {
		t.Fatalf("after the TTL the password is checked again: %d calls", *calls)
	}

	// A second handle changes the password on disk, as `pushca users` does.
	other, err := OpenUsers(filepath.Join(dir, "users"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Remove("alice"); err != nil {
		t.Fatal(err)
	}
	u.lookNow()
	if u.Verify("alice", "secret") {
		t.Fatal("a removed user logged in from the cache")
	}
	if err := other.Add("alice", "new secret"); err != nil {
		t.Fatal(err)
	}
	u.lookNow()
	if u.Verify("alice", "secret") {
		t.Fatal("the old password still works after a change")
	}
	if !u.Verify("alice", "new secret") {
		t.Fatal("the new password is refused")
	}
}

// BenchmarkVerify compares a re-Ping's login with and without the cache at
// bcrypt's default cost, the cost `pushca users add` uses.
func BenchmarkVerify(b *testing.B) {
	u, err := OpenUsers(filepath.Join(b.TempDir(), "users"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	if err := u.Add("alice", "secret"); err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		for range b.N {
			if !u.Verify("alice", "secret") {
				b.Fatal("refused")
			}
		}
	})
	b.Run("bcrypt", func(b *testing.B) {
		for range b.N {
			clear(u.verified)
			if !u.Verify("alice", "secret") {
				b.Fatal("refused")
			}
		}
	})
}
