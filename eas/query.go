package eas

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Path is the ActiveSync endpoint path.
const Path = "/Microsoft-Server-ActiveSync"

// Versions are the protocol versions this package speaks, oldest first.
var versions = []string{"2.5", "12.0", "12.1", "14.0", "14.1", "16.0", "16.1"}

// Versions returns the protocol versions this package knows, oldest first.
func Versions() []string { return slices.Clone(versions) }

// VersionAtLeast reports whether protocol version v is min or later; an
// unknown v is older than everything.
func VersionAtLeast(v, min string) bool {
	i := slices.Index(versions, v)
	return i >= 0 && i >= slices.Index(versions, min)
}

// commandCodes maps the base64 query's command byte to the command name
// ([MS-ASHTTP] 2.2.1.1.1.1.2); plain queries use the names.
var commandCodes = map[byte]string{
	0: "Sync", 1: "SendMail", 2: "SmartForward", 3: "SmartReply", 4: "GetAttachment",
	9: "FolderSync", 10: "FolderCreate", 11: "FolderDelete", 12: "FolderUpdate",
	13: "MoveItems", 14: "GetItemEstimate", 15: "MeetingResponse", 16: "Search",
	17: "Settings", 18: "Ping", 19: "ItemOperations", 20: "Provision",
	21: "ResolveRecipients", 22: "ValidateCert",
}

func commandCode(name string) (byte, bool) {
	for c, n := range commandCodes {
		if n == name {
			return c, true
		}
	}
	return 0, false
}

// Base64 query parameter tags ([MS-ASHTTP] 2.2.1.1.1.1.3).
const (
	paramAttachmentName = 0
	paramCollectionID   = 1
	paramItemID         = 3
	paramLongID         = 4
	paramOccurrence     = 6
	paramOptions        = 7
	paramUser           = 8

	optionSaveInSent      = 0x01
	optionAcceptMultiPart = 0x02
)

// Request is what a command's URL and headers say, whichever query form the
// device used.
type Request struct {
	Cmd        string
	User       string // as the query gives it; authenticate with the Authorization header
	DeviceID   string // binary ids of the base64 form rendered as lower-case hex
	DeviceType string
	Version    string // "2.5", "14.1", ...

	PolicyKey    uint32
	HasPolicyKey bool
	Locale       uint16 // base64 form only, e.g. 0x0409

	AttachmentName  string
	CollectionID    string
	ItemID          string
	LongID          string
	Occurrence      string
	SaveInSent      bool
	AcceptMultiPart bool // base64 form only

	Base64 bool // the query came (or goes) in the base64 form
}

// Header names of [MS-ASHTTP].
const (
	HeaderProtocolVersion  = "MS-ASProtocolVersion"
	HeaderProtocolVersions = "MS-ASProtocolVersions"
	HeaderCommands         = "MS-ASProtocolCommands"
	HeaderPolicyKey        = "X-MS-PolicyKey"
)

// QueryError names the query field that was missing or wrong.
type QueryError struct {
	Field string
	Msg   string
}

func (e *QueryError) Error() string { return "eas: query " + e.Field + ": " + e.Msg }

func queryErr(field, format string, args ...any) error {
	return &QueryError{field, fmt.Sprintf(format, args...)}
}

// maxQuery bounds the raw query; real ones are under 200 bytes.
const maxQuery = 2048

// ParseRequest reads the command, device and version from r's query and
// headers.
func ParseRequest(r *http.Request) (*Request, error) {
	return ParseQuery(r.URL.RawQuery, r.Header)
}

// ParseQuery parses a raw query in the plain or base64 form. h supplies
// MS-ASProtocolVersion and X-MS-PolicyKey for the plain form; it may be nil.
func ParseQuery(rawQuery string, h http.Header) (*Request, error) {
	if len(rawQuery) > maxQuery {
		return nil, queryErr("query", "longer than %d bytes", maxQuery)
	}
	if rawQuery == "" {
		return nil, queryErr("Cmd", "missing")
	}
	// Base64 has '=' only as trailing padding; any other '=' means name=value.
	if !strings.Contains(strings.TrimRight(rawQuery, "="), "=") {
		return parseBase64(rawQuery)
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, queryErr("query", "bad escaping: %v", err)
	}
	return parsePlain(vals, h)
}

func parsePlain(vals url.Values, h http.Header) (*Request, error) {
	for k, v := range vals {
		if len(v) > 1 {
			return nil, queryErr(k, "given %d times", len(v))
		}
	}
	q := &Request{
		Cmd:            vals.Get("Cmd"),
		User:           vals.Get("User"),
		DeviceID:       vals.Get("DeviceId"),
		DeviceType:     vals.Get("DeviceType"),
		AttachmentName: vals.Get("AttachmentName"),
		CollectionID:   vals.Get("CollectionId"),
		ItemID:         vals.Get("ItemId"),
		LongID:         vals.Get("LongId"),
		Occurrence:     vals.Get("Occurrence"),
		Version:        h.Get(HeaderProtocolVersion),
	}
	switch s := vals.Get("SaveInSent"); s {
	case "", "F":
	case "T":
		q.SaveInSent = true
	default:
		return nil, queryErr("SaveInSent", "%q is not T or F", truncate(s))
	}
	if pk := h.Get(HeaderPolicyKey); pk != "" {
		n, err := strconv.ParseUint(pk, 10, 32)
		if err != nil {
			return nil, queryErr(HeaderPolicyKey, "%q is not a 32-bit number", truncate(pk))
		}
		q.PolicyKey, q.HasPolicyKey = uint32(n), true
	}
	if q.Version == "" {
		return nil, queryErr(HeaderProtocolVersion, "missing")
	}
	if err := q.validate(); err != nil {
		return nil, err
	}
	return q, nil
}

func parseBase64(raw string) (*Request, error) {
	// PathUnescape, not QueryUnescape: a literal '+' is base64, not a space.
	s, err := url.PathUnescape(raw)
	if err != nil {
		return nil, queryErr("base64", "bad escaping: %v", err)
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, queryErr("base64", "neither base64 nor name=value pairs")
	}
	r := byteReader{b: b}
	q := &Request{Base64: true}
	ver := r.byte("ProtocolVersion")
	code := r.byte("CommandCode")
	q.Locale = binary.LittleEndian.Uint16(r.bytes("Locale", 2))
	id := r.bytes("DeviceId", int(r.byte("DeviceIdLen")))
	switch n := r.byte("PolicyKeyLen"); n {
	case 0:
	case 4:
		q.PolicyKey, q.HasPolicyKey = binary.LittleEndian.Uint32(r.bytes("PolicyKey", 4)), true
	default:
		if r.err == nil {
			r.err = queryErr("PolicyKeyLen", "%d is neither 0 nor 4", n)
		}
	}
	q.DeviceType = string(r.bytes("DeviceType", int(r.byte("DeviceTypeLen"))))
	for r.err == nil && r.pos < len(r.b) {
		tag := r.byte("parameter tag")
		val := r.bytes(fmt.Sprintf("parameter %d", tag), int(r.byte("parameter length")))
		if r.err != nil {
			break
		}
		switch tag {
		case paramAttachmentName:
			q.AttachmentName = string(val)
		case paramCollectionID:
			q.CollectionID = string(val)
		case paramItemID:
			q.ItemID = string(val)
		case paramLongID:
			q.LongID = string(val)
		case paramOccurrence:
			q.Occurrence = string(val)
		case paramUser:
			q.User = string(val)
		case paramOptions:
			if len(val) != 1 {
				return nil, queryErr("Options", "%d bytes, want 1", len(val))
			}
			q.SaveInSent = val[0]&optionSaveInSent != 0
			q.AcceptMultiPart = val[0]&optionAcceptMultiPart != 0
		}
		// Other tags are skipped: later protocol revisions add parameters.
	}
	if r.err != nil {
		return nil, r.err
	}
	q.Version = fmt.Sprintf("%d.%d", ver/10, ver%10)
	if ver < 121 {
		return nil, queryErr("ProtocolVersion", "%s cannot use the base64 query (12.1 and later only)", q.Version)
	}
	name, ok := commandCodes[code]
	if !ok {
		return nil, queryErr("CommandCode", "unknown command code %d", code)
	}
	q.Cmd = name
	q.DeviceID = renderDeviceID(id)
	if err := q.validate(); err != nil {
		return nil, err
	}
	return q, nil
}

// renderDeviceID keeps an alphanumeric id as text and renders any other
// bytes as lower-case hex, as Exchange does for binary ids.
func renderDeviceID(b []byte) string {
	if isAlnum(string(b)) {
		return string(b)
	}
	return hex.EncodeToString(b)
}

// deviceIDBytes inverts renderDeviceID: lower-case hex that does not decode to
// alphanumeric bytes travels as binary.
func deviceIDBytes(id string) []byte {
	if b, err := hex.DecodeString(id); err == nil && strings.ToLower(id) == id && !isAlnum(string(b)) {
		return b
	}
	return []byte(id)
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !alnum(s[i]) {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

type byteReader struct {
	b   []byte
	pos int
	err error
}

func (r *byteReader) bytes(field string, n int) []byte {
	if r.err != nil {
		return make([]byte, n)
	}
	if len(r.b)-r.pos < n {
		r.err = queryErr(field, "truncated at byte %d", len(r.b))
		return make([]byte, n)
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b
}

func (r *byteReader) byte(field string) byte { return r.bytes(field, 1)[0] }

// MaxDeviceIDLen bounds device ids: [MS-ASHTTP] allows 32 characters, and
// some Android clients send a few more.
const MaxDeviceIDLen = 64

func (q *Request) validate() error {
	if q.Cmd == "" {
		return queryErr("Cmd", "missing")
	}
	if _, ok := commandCode(q.Cmd); !ok {
		return queryErr("Cmd", "unknown command %q", truncate(q.Cmd))
	}
	if !slices.Contains(versions, q.Version) {
		return queryErr(HeaderProtocolVersion, "unsupported version %q", truncate(q.Version))
	}
	// The id and type often name files and map keys on the server, so
	// they are held to the characters devices really use.
	if err := checkToken("DeviceId", q.DeviceID, MaxDeviceIDLen); err != nil {
		return err
	}
	if err := checkToken("DeviceType", q.DeviceType, 64); err != nil {
		return err
	}
	if len(q.User) > maxUserLen {
		return queryErr("User", "longer than %d bytes", maxUserLen)
	}
	return nil
}

func checkToken(field, s string, max int) error {
	if s == "" {
		return queryErr(field, "missing")
	}
	if len(s) > max {
		return queryErr(field, "longer than %d characters", max)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' {
			return queryErr(field, "character %q not allowed", c)
		}
	}
	return nil
}

// Encode renders the query in q's form (plain or base64) and the headers that
// go with it. The plain form carries the version and policy key in headers.
func (q *Request) Encode() (rawQuery string, h http.Header, err error) {
	if err := q.validate(); err != nil {
		return "", nil, err
	}
	h = http.Header{}
	if !q.Base64 {
		v := url.Values{}
		v.Set("Cmd", q.Cmd)
		v.Set("DeviceId", q.DeviceID)
		v.Set("DeviceType", q.DeviceType)
		for k, s := range map[string]string{
			"User":           q.User,
			"AttachmentName": q.AttachmentName, "CollectionId": q.CollectionID,
			"ItemId": q.ItemID, "LongId": q.LongID, "Occurrence": q.Occurrence,
		} {
			if s != "" {
				v.Set(k, s)
			}
		}
		if q.SaveInSent {
			v.Set("SaveInSent", "T")
		}
		h.Set(HeaderProtocolVersion, q.Version)
		if q.HasPolicyKey {
			h.Set(HeaderPolicyKey, strconv.FormatUint(uint64(q.PolicyKey), 10))
		}
		return v.Encode(), h, nil
	}
	major, minor, _ := strings.Cut(q.Version, ".")
	ver := atoiSmall(major)*10 + atoiSmall(minor)
	if ver < 121 {
		return "", nil, queryErr("ProtocolVersion", "%s cannot use the base64 query (12.1 and later only)", q.Version)
	}
	code, _ := commandCode(q.Cmd)
	b := []byte{byte(ver), code}
	b = binary.LittleEndian.AppendUint16(b, q.Locale)
	id := deviceIDBytes(q.DeviceID)
	b = append(append(b, byte(len(id))), id...)
	if q.HasPolicyKey {
		b = binary.LittleEndian.AppendUint32(append(b, 4), q.PolicyKey)
	} else {
		b = append(b, 0)
	}
	b = append(append(b, byte(len(q.DeviceType))), q.DeviceType...)
	for _, p := range []struct {
		tag byte
		val string
	}{
		{paramAttachmentName, q.AttachmentName}, {paramCollectionID, q.CollectionID},
		{paramItemID, q.ItemID}, {paramLongID, q.LongID}, {paramOccurrence, q.Occurrence},
		{paramUser, q.User},
	} {
		if p.val == "" {
			continue
		}
		if len(p.val) > 255 {
			return "", nil, queryErr(fmt.Sprintf("parameter %d", p.tag), "longer than 255 bytes")
		}
		b = append(append(b, p.tag, byte(len(p.val))), p.val...)
	}
	var opts byte
	if q.SaveInSent {
		opts |= optionSaveInSent
	}
	if q.AcceptMultiPart {
		opts |= optionAcceptMultiPart
	}
	if opts != 0 {
		b = append(b, paramOptions, 1, opts)
	}
	return url.QueryEscape(base64.StdEncoding.EncodeToString(b)), h, nil
}

func atoiSmall(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
