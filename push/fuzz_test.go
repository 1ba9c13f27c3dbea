package push

import (
	"bytes"
	"maps"
	"testing"
)

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

func FuzzParseDeliverRequest(f *testing.F) {
	f.Add([]byte(`{"user":"CORP\\alice","subject":"s","body":"b"}`))
	f.Add([]byte(`{"user":"alice"} {}`))
	f.Add([]byte(`{"user":"alice","x":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseDeliverRequest(data)
		if err != nil {
			return
		}
		if n, err := NormalizeUser(req.User); err != nil || n != req.User || req.Subject == "" {
			t.Fatalf("accepted %q as %+v", data, req)
		}
	})
}
