package eas

import (
	"fmt"
	"strconv"
	"strings"
)

// codePages lists the ActiveSync code pages and the tokens of the commands
// this package implements. Tokens come from [MS-ASWBXML] 2.1.2.1 as listed in
// shared/reference/activesync.md; the few the reference leaves out are marked
// with their source. Tokens not listed here still decode (see tagName) so a
// newer client's extra elements do not break a parse.
var codePages = []struct {
	page    byte
	name    string
	tags    map[byte]string
	aliases map[string]byte
}{
	{page: 0, name: "AirSync", tags: map[byte]string{
		0x05: "Sync", 0x06: "Responses", 0x07: "Add", 0x08: "Change", 0x09: "Delete",
		0x0A: "Fetch", 0x0B: "SyncKey", 0x0C: "ClientId", 0x0D: "ServerId", 0x0E: "Status",
		0x0F: "Collection", 0x10: "Class", 0x12: "CollectionId", 0x13: "GetChanges",
		0x14: "MoreAvailable", 0x15: "WindowSize", 0x16: "Commands", 0x17: "Options",
		0x18: "FilterType", 0x19: "Truncation", 0x1B: "Conflict", 0x1C: "Collections",
		0x1D: "ApplicationData", 0x1E: "DeletesAsMoves", 0x20: "Supported", 0x21: "SoftDelete",
		0x22: "MIMESupport", 0x23: "MIMETruncation", 0x24: "Wait", 0x25: "Limit", 0x26: "Partial",
		0x27: "ConversationMode", 0x28: "MaxItems", 0x29: "HeartbeatInterval",
	}},
	{page: 2, name: "Email", tags: map[byte]string{
		0x0C: "Body", 0x0D: "BodySize", 0x0E: "BodyTruncated", 0x0F: "DateReceived",
		0x11: "DisplayTo", 0x12: "Importance", 0x13: "MessageClass", 0x14: "Subject",
		0x15: "Read", 0x16: "To", 0x17: "Cc", 0x18: "From", 0x19: "Reply-To",
		0x35: "ThreadTopic", 0x36: "MIMEData", 0x37: "MIMETruncated", 0x38: "MIMESize",
		0x39: "InternetCPID", 0x3A: "Flag", 0x3C: "ContentClass",
	}},
	{page: 6, name: "GetItemEstimate", tags: map[byte]string{
		0x05: "GetItemEstimate", 0x07: "Collections", 0x08: "Collection", 0x09: "Class",
		0x0A: "CollectionId", 0x0C: "Estimate", 0x0D: "Response", 0x0E: "Status",
	}},
	{page: 7, name: "FolderHierarchy", tags: map[byte]string{
		0x07: "DisplayName", 0x08: "ServerId", 0x09: "ParentId", 0x0A: "Type", 0x0C: "Status",
		0x0E: "Changes", 0x0F: "Add", 0x10: "Delete", 0x11: "Update", 0x12: "SyncKey",
		0x13: "FolderCreate", 0x14: "FolderDelete", 0x15: "FolderUpdate", 0x16: "FolderSync",
		0x17: "Count",
	}},
	{page: 13, name: "Ping", tags: map[byte]string{
		0x05: "Ping", 0x07: "Status", 0x08: "HeartbeatInterval", 0x09: "Folders", 0x0A: "Folder",
		0x0B: "Id", 0x0C: "Class", 0x0D: "MaxFolders",
	}},
	{page: 14, name: "Provision", tags: map[byte]string{
		0x05: "Provision", 0x06: "Policies", 0x07: "Policy", 0x08: "PolicyType", 0x09: "PolicyKey",
		0x0A: "Data", 0x0B: "Status", 0x0C: "RemoteWipe", 0x0D: "EASProvisionDoc",
		0x0E: "DevicePasswordEnabled", 0x0F: "AlphanumericDevicePasswordRequired",
		0x10: "RequireStorageCardEncryption", 0x11: "PasswordRecoveryEnabled",
		0x13: "AttachmentsEnabled", 0x14: "MinDevicePasswordLength",
		0x15: "MaxInactivityTimeDeviceLock", 0x16: "MaxDevicePasswordFailedAttempts",
		0x17: "MaxAttachmentSize", 0x18: "AllowSimpleDevicePassword",
		0x19: "DevicePasswordExpiration", 0x1A: "DevicePasswordHistory",
	}, aliases: map[string]byte{
		// 12.0 name of token 0x10 ([MS-ASWBXML]); libwbxml's wbxml2xml prints this one.
		"DeviceEncryptionEnabled": 0x10,
	}},
	{page: 17, name: "AirSyncBase", tags: map[byte]string{
		0x05: "BodyPreference", 0x06: "Type", 0x07: "TruncationSize", 0x08: "AllOrNone",
		0x0A: "Body", 0x0B: "Data", 0x0C: "EstimatedDataSize", 0x0D: "Truncated",
		0x16: "NativeBodyType", 0x17: "ContentType", 0x18: "Preview",
	}},
	{page: 18, name: "Settings", tags: map[byte]string{
		0x05: "Settings", 0x06: "Status", 0x07: "Get", 0x08: "Set", 0x09: "Oof", 0x0A: "OofState",
		0x0B: "StartTime", 0x0C: "EndTime", 0x0D: "OofMessage", 0x0E: "AppliesToInternal",
		0x0F: "AppliesToExternalKnown", 0x10: "AppliesToExternalUnknown", 0x11: "Enabled",
		0x12: "ReplyMessage", 0x13: "BodyType", 0x14: "DevicePassword", 0x16: "DeviceInformation",
		0x17: "Model", 0x18: "IMEI", 0x19: "FriendlyName", 0x1A: "OS", 0x1B: "OSLanguage",
		0x1C: "PhoneNumber", 0x1D: "UserInformation", 0x1E: "EmailAddresses", 0x1F: "SmtpAddress",
		0x20: "UserAgent",
		// [MS-ASWBXML] 2.1.2.1.19 (also libwbxml wbxml_tables.c): sent by 14.x
		// clients inside DeviceInformation/Set.
		0x21: "EnableOutboundSMS",
		0x22: "MobileOperator",
		// UserInformation at 14.1 and later ([MS-ASWBXML] 2.1.2.1.19).
		0x23: "PrimarySmtpAddress", 0x24: "Accounts", 0x25: "Account", 0x26: "AccountId",
		0x27: "AccountName", 0x28: "UserDisplayName", 0x29: "SendDisabled",
	}},
	// [MS-ASWBXML] 2.1.2.1.23: what 14.0+ servers add to a mail item.
	{page: 22, name: "Email2", tags: map[byte]string{
		0x09: "ConversationId", 0x0A: "ConversationIndex", 0x15: "IsDraft",
	}},
}

// WBXML tag tokens occupy the low six bits; 0x00-0x04 are global tokens.
const (
	firstTagToken = 0x05
	lastTagToken  = 0x3F
)

// tagNames[page][token] is the "Page:Name" of a known tag, "" otherwise;
// pageNames[page] is the namespace name. Built once, never written after init.
var tagNames, pageNames, tagTokens = buildTables()

func buildTables() (names [256][64]string, pnames [256]string, tokens map[string]uint16) {
	tokens = make(map[string]uint16)
	for _, cp := range codePages {
		pnames[cp.page] = cp.name
		for tok, n := range cp.tags {
			full := cp.name + ":" + n
			names[cp.page][tok] = full
			tokens[full] = uint16(cp.page)<<8 | uint16(tok)
		}
		for n, tok := range cp.aliases {
			tokens[cp.name+":"+n] = uint16(cp.page)<<8 | uint16(tok)
		}
	}
	return names, pnames, tokens
}

// tagName names a tag. Unknown tokens get a numeric name ("Ping:0x1f",
// "0x01:0x05") that lookupTag accepts, so any document round-trips.
func tagName(page, token byte) string {
	if n := tagNames[page][token&0x3F]; n != "" {
		return n
	}
	p := pageNames[page]
	if p == "" {
		p = fmt.Sprintf("0x%02x", page)
	}
	return fmt.Sprintf("%s:0x%02x", p, token)
}

// lookupTag returns the code page and token of a "Page:Name" tag.
func lookupTag(name string) (page, token byte, err error) {
	if v, ok := tagTokens[name]; ok {
		return byte(v >> 8), byte(v), nil
	}
	ps, ts, ok := strings.Cut(name, ":")
	if !ok {
		return 0, 0, fmt.Errorf("tag %q: want Page:Name", name)
	}
	p, found := -1, false
	for i, n := range pageNames {
		if n != "" && n == ps {
			p, found = i, true
			break
		}
	}
	if !found {
		v, err := strconv.ParseUint(strings.TrimPrefix(ps, "0x"), 16, 8)
		if err != nil || !strings.HasPrefix(ps, "0x") {
			return 0, 0, fmt.Errorf("tag %q: unknown code page %q", name, ps)
		}
		p = int(v)
	}
	t, err := strconv.ParseUint(strings.TrimPrefix(ts, "0x"), 16, 8)
	if err != nil || !strings.HasPrefix(ts, "0x") || t < firstTagToken || t > lastTagToken {
		return 0, 0, fmt.Errorf("tag %q: unknown in code page %s", name, ps)
	}
	return byte(p), byte(t), nil
}
