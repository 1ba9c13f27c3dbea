package eas

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

const (
	maxAuthHeader = 4096
	maxUserLen    = 256
)

// Credentials are the contents of an "Authorization: Basic" header. They
// format as the user name only, so a stray log line never shows the password.
type Credentials struct {
	User     string // lower-case account name without domain: "alice"
	Domain   string // lower-case NetBIOS domain or UPN suffix, "" when none
	Login    string // as the device sent it: "CORP\alice", "alice@corp.example"
	Password string
}

func (c Credentials) String() string   { return c.Login }
func (c Credentials) GoString() string { return fmt.Sprintf("eas.Credentials{Login: %q}", c.Login) }

// ErrNoCredentials means the request carried no Basic credentials; answer
// 401 with WWW-Authenticate.
var ErrNoCredentials = errors.New("eas: no Basic credentials")

// ParseBasicAuth reads an Authorization header value. The user may be
// DOMAIN\user or a UPN (user@domain); both normalise to User and Domain.
// The password is not inspected beyond UTF-8 validity and its length bound.
func ParseBasicAuth(header string) (Credentials, error) {
	if header == "" {
		return Credentials{}, ErrNoCredentials
	}
	if len(header) > maxAuthHeader {
		return Credentials{}, fmt.Errorf("eas: Authorization header longer than %d bytes", maxAuthHeader)
	}
	scheme, enc, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return Credentials{}, ErrNoCredentials
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return Credentials{}, errors.New("eas: Authorization: Basic value is not base64")
	}
	login, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return Credentials{}, errors.New("eas: Authorization: no ':' between user and password")
	}
	if !utf8.ValidString(login) || !utf8.ValidString(password) {
		return Credentials{}, errors.New("eas: Authorization: credentials are not UTF-8")
	}
	if len(login) > maxUserLen {
		return Credentials{}, fmt.Errorf("eas: Authorization: user name longer than %d bytes", maxUserLen)
	}
	for _, r := range login {
		if r < 0x20 || r == 0x7f {
			return Credentials{}, errors.New("eas: Authorization: control character in user name")
		}
	}
	c := Credentials{Login: login, Password: password}
	user := login
	if d, u, ok := strings.Cut(user, `\`); ok {
		c.Domain, user = d, u
		if d == "" || strings.Contains(u, `\`) {
			return Credentials{}, fmt.Errorf("eas: Authorization: malformed DOMAIN\\user %q", truncate(login))
		}
	}
	// A UPN (possibly after a domain prefix, as some WM builds send it)
	// gives its local part as the user; its suffix is the domain only when no
	// NetBIOS domain came first.
	if i := strings.LastIndexByte(user, '@'); i >= 0 {
		if i == 0 || i == len(user)-1 {
			return Credentials{}, fmt.Errorf("eas: Authorization: malformed UPN %q", truncate(login))
		}
		if c.Domain == "" {
			c.Domain = user[i+1:]
		}
		user = user[:i]
	}
	if user == "" {
		return Credentials{}, errors.New("eas: Authorization: empty user name")
	}
	c.User, c.Domain = strings.ToLower(user), strings.ToLower(c.Domain)
	return c, nil
}

// PasswordEqual compares the password with want in constant time; hashing
// first keeps the lengths from leaking as well.
func (c Credentials) PasswordEqual(want string) bool {
	a, b := sha256.Sum256([]byte(c.Password)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// BasicAuth returns the Authorization header value for login and password.
func BasicAuth(login, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+password))
}
