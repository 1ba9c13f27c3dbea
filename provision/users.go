package provision

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pushca/pushca/profile"
)

// User is one row of a bundle's user list.
type User struct {
	// Line is the row's line in the CSV file, for messages.
	Line int
	// Name is the account user name, as the device sends it to Exchange.
	Name        string
	Email       string
	DisplayName string
	// Domain overrides the bundle's default domain when set.
	Domain string
	// Devices are profile names (wm5, wm6, wm65, ios, android); empty takes
	// the bundle's default device kinds.
	Devices []string
}

// RowError is one refused row; Line 1 is the header.
type RowError struct {
	Line   int
	User   string
	Reason string
}

func (e RowError) Error() string {
	if e.User == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d (user %s): %s", e.Line, clip(e.User), e.Reason)
}

// UserColumns documents the CSV header, for --help and docs/bundles.md.
// Header names are matched without regard to case, spaces, '-' or '_'.
var UserColumns = []struct{ Name, Meaning string }{
	{"user", "required: account user name (sAMAccountName or UPN)"},
	{"email", "e-mail address (iOS asks when empty)"},
	{"display_name", "name printed on the sheet"},
	{"domain", "Windows domain; empty takes --domain"},
	{"devices", "device kinds separated by spaces, ';' or '|': wm5 wm6 wm65 ios android; empty takes --profile"},
}

// deviceKinds are the profiles a bundle has packages for: the modern
// profile is a server-certificate choice, not a kind of phone.
var deviceKinds = []string{"wm5", "wm6", "wm65", "ios", "android"}

// ReadUsers parses a user list: a header row naming the columns of
// UserColumns in any order, then one user a row; UTF-8 with or without a
// byte-order mark or UTF-16 with one, separated by commas, semicolons or
// tabs (whichever the header holds), CRLF or LF line ends. Every bad row is returned with its
// line and reason rather than stopping at the first, so a list is fixed in
// one pass. err is set only when the file as a whole is unusable (no header,
// unknown column, I/O failure).
func ReadUsers(r io.Reader) (users []User, bad []RowError, err error) {
	text, sep, err := csvInput(r)
	if err != nil {
		return nil, nil, err
	}
	cr := csv.NewReader(text)
	cr.Comma = sep
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, errors.New("empty file: want a header row naming the columns, starting with user")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	cols, err := headerColumns(header)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, nil, fmt.Errorf("read users: %w", err)
			}
			bad = append(bad, RowError{Line: pe.StartLine, Reason: pe.Err.Error()})
			continue
		}
		line, _ := cr.FieldPos(0)
		u, reason := parseUser(rec, cols, line, sep)
		if reason == "" {
			key := strings.ToLower(u.Name)
			if first, dup := seen[key]; dup {
				reason = fmt.Sprintf("duplicate user: line %d already has it (Exchange user names ignore case)", first)
			} else {
				seen[key] = line
			}
		}
		if reason != "" {
			bad = append(bad, RowError{Line: line, User: u.Name, Reason: reason})
			continue
		}
		users = append(users, u)
	}
	return users, bad, nil
}

func headerColumns(header []string) (map[string]int, error) {
	cols := map[string]int{}
	for i, h := range header {
		name := strings.NewReplacer(" ", "", "-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(h)))
		known := false
		for _, c := range UserColumns {
			if name == strings.ReplaceAll(c.Name, "_", "") {
				if _, dup := cols[c.Name]; dup {
					return nil, fmt.Errorf("header: column %s appears twice", clip(h))
				}
				cols[c.Name], known = i, true
			}
		}
		if !known {
			return nil, fmt.Errorf("header: unknown column %s (columns: user, email, display_name, domain, devices)", clip(h))
		}
	}
	if _, ok := cols["user"]; !ok {
		return nil, fmt.Errorf("header %s: no user column; the first row must name the columns", clip(strings.Join(header, ",")))
	}
	return cols, nil
}

// parseUser returns the row's user, or a reason it is refused; sep is the
// file's separator, for the hint a semicolon file needs.
func parseUser(rec []string, cols map[string]int, line int, sep rune) (User, string) {
	get := func(col string) string {
		if i, ok := cols[col]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	u := User{Line: line, Name: get("user"), Email: get("email"), DisplayName: get("display_name"), Domain: get("domain")}
	if len(rec) > len(cols) {
		reason := fmt.Sprintf("%d fields, the header names %d", len(rec), len(cols))
		if sep == ';' {
			// Excel quotes a cell holding the separator; a hand-edited
			// file may not.
			reason += `; the file is separated by ';', so put a devices cell listing several kinds in quotes ("wm6;ios") or separate them with spaces`
		}
		return u, reason
	}
	if u.Name == "" {
		return u, "user is empty"
	}
	// The account check is the one the documents apply; a placeholder
	// server stands in for --server, which is checked once, not per row.
	a := Account{Server: "server.invalid", User: u.Name, Domain: u.Domain, Email: u.Email}
	if err := a.check(); err != nil {
		return u, err.Error()
	}
	if err := checkText("display_name", u.DisplayName); err != nil {
		return u, err.Error()
	}
	devices, err := ParseDevices(get("devices"))
	if err != nil {
		return u, err.Error()
	}
	u.Devices = devices
	return u, ""
}

// ParseDevices reads a device list such as "wm6 ios" or "wm5;android" into
// sorted, distinct profile names.
func ParseDevices(s string) ([]string, error) {
	var out []string
	for _, d := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ';' || r == '|' || r == ',' }) {
		d = strings.ToLower(d)
		if _, err := profile.Get(d); err != nil || !slices.Contains(deviceKinds, d) {
			return nil, fmt.Errorf("devices: %s is not one of %s", clip(d), strings.Join(deviceKinds, ", "))
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Folder is the user's directory (or zip) name inside a bundle: the user
// name when it is a safe file name everywhere (Windows included), otherwise
// a readable ASCII form with a digest of the real name, so two different
// users can never share a folder.
func (u User) Folder() string {
	var b strings.Builder
	for _, r := range u.Name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '@':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 48 {
			break
		}
	}
	s := b.String()
	if s == u.Name && !reservedName(s) {
		return s
	}
	sum := sha256.Sum256([]byte(u.Name))
	s = strings.Trim(s, ".")
	if reservedName(s + "-") {
		s = "_" + s
	}
	return s + "-" + hex.EncodeToString(sum[:5])
}

// reservedName catches what Windows or a shell would trip on: device names
// (CON, NUL, COM1...), leading dots (hidden) or dashes (read as options),
// trailing dots.
func reservedName(s string) bool {
	if s == "" || s == "-" || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "-") || strings.HasSuffix(s, ".") {
		return true
	}
	base := strings.ToUpper(strings.SplitN(s, ".", 2)[0])
	switch base {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	return len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '0' && base[3] <= '9'
}
