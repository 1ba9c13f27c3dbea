package state

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// NormalizeUser turns the forms a device may send — DOMAIN\user, a UPN
// user@domain, both at once, or a bare name — into the bare lower-case name
// the users file keys on (see SplitLogin). Windows account names are
// case-insensitive.
func NormalizeUser(s string) (string, error) {
	name, _ := SplitLogin(s)
	name = strings.ToLower(name)
	if name == "" || len(name) > 64 {
		return "", fmt.Errorf("user name %q: must be 1 to 64 characters", s)
	}
	for _, r := range name {
		if r == ':' || r == '/' || r == '@' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return "", fmt.Errorf("user name %q: %q is not allowed", s, r)
		}
	}
	return name, nil
}

// SplitLogin returns the account part of a login and whether the login
// named a domain. The account is what follows the last backslash and
// precedes the first @, so CORP\jdoe (Windows Mobile joins the Sync CSP's
// domain and user so), jdoe@corp.example and CORP\jdoe@corp.example (an
// iPhone given a domain and a UPN) are all jdoe. The domain is dropped, not
// matched: a NetBIOS domain (CORP) says nothing about a UPN suffix
// (corp.example), so no rule could tell two same-named people of two
// domains apart at every login. One account per name is what stays
// deterministic, and push.Users.Add refuses a domain-qualified name that would
// land on an existing account.
func SplitLogin(s string) (name string, qualified bool) {
	name = strings.TrimSpace(s)
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name, qualified = name[i+1:], true
	}
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, qualified = name[:i], true
	}
	return name, qualified
}

// CheckUser says whether name and hash can be a user's: the name in normal
// form, the hash bcrypt's.
func CheckUser(name string, hash []byte) error {
	if norm, err := NormalizeUser(name); err != nil || norm != name {
		return fmt.Errorf("user name %q is not in normal form", name)
	}
	if _, err := bcrypt.Cost(hash); err != nil {
		return fmt.Errorf("user %s: not a bcrypt hash: %w", name, err)
	}
	return nil
}

// UserSource is where the users' bcrypt hashes are kept: the users file
// (FileUsers), or a database the servers sharing it read (package
// pgstate). push.Users verifies logins against any of them alike.
type UserSource interface {
	// Changed says, cheaply, whether the users may have changed since its
	// previous call; the first call says true. push.Users asks at most once
	// per push.UsersFileCheck, and only when a login or a command needs the users.
	Changed(ctx context.Context) (bool, error)
	// Read returns every user's hash. When it fails it also returns the
	// users of last it still vouches for unchanged: none when it cannot be
	// read at all.
	Read(ctx context.Context, last map[string][]byte) (map[string][]byte, error)
	// Edit sets name's hash to what fn returns given the current one (nil
	// for no user), deleting the user when fn returns nil; an error from
	// fn changes nothing. It works on what is stored now, not on what Read
	// returned, so that edits made one after the other all land.
	Edit(ctx context.Context, name string, fn func(current []byte) ([]byte, error)) error
	// String names the source in logs; it must not hold a secret.
	String() string
}
