package provision

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
)

// uuidNamespace is pushca's RFC 9562 name-space for UUIDv5 payload UUIDs,
// generated once at random. Changing it changes every profile's UUIDs.
const uuidNamespace = "6657934f-c342-4a28-bfd2-a088f01f50e0"

// uuid5 derives a UUID from name alone, so the same inputs give the same
// profile bytes every run, and a profile rebuilt for the same user replaces
// the installed one instead of piling up beside it.
func uuid5(parts ...string) string {
	ns, err := hex.DecodeString(strings.ReplaceAll(uuidNamespace, "-", ""))
	if err != nil {
		panic(err) // a constant; caught by every test
	}
	h := sha1.New()
	h.Write(ns)
	// Inputs never hold NUL (checkText refuses control characters), so the
	// joined name is unambiguous.
	h.Write([]byte(strings.Join(parts, "\x00")))
	s := h.Sum(nil)[:16]
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	x := strings.ToUpper(hex.EncodeToString(s))
	return fmt.Sprintf("%s-%s-%s-%s-%s", x[:8], x[8:12], x[12:16], x[16:20], x[20:])
}
