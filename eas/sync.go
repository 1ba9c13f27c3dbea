package eas

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// SyncStatus is AirSync:Status in a Sync response.
type SyncStatus int

const (
	SyncOK                 SyncStatus = 1
	SyncInvalidSyncKey     SyncStatus = 3 // start over with SyncKey 0
	SyncProtocolError      SyncStatus = 4
	SyncServerError        SyncStatus = 5
	SyncClientError        SyncStatus = 6
	SyncConflict           SyncStatus = 7
	SyncObjectNotFound     SyncStatus = 8
	SyncCannotComplete     SyncStatus = 9
	SyncHierarchyChanged   SyncStatus = 12 // run FolderSync
	SyncIncompleteRequest  SyncStatus = 13 // send the full request, not an empty one
	SyncInvalidInterval    SyncStatus = 14 // Wait or HeartbeatInterval out of range
	SyncTooManyCollections SyncStatus = 15
	SyncRetry              SyncStatus = 16
)

var syncStatusNames = map[int]string{
	1: "success", 3: "invalid sync key", 4: "protocol error", 5: "server error",
	6: "client error", 7: "conflict", 8: "object not found", 9: "cannot complete",
	12: "folder hierarchy changed", 13: "incomplete request", 14: "invalid wait or heartbeat interval",
	15: "too many collections", 16: "retry",
}

func (s SyncStatus) String() string { return statusText(syncStatusNames, int(s)) }

// BodyType is AirSyncBase:Type.
type BodyType int

const (
	BodyPlain BodyType = 1
	BodyHTML  BodyType = 2
	BodyRTF   BodyType = 3
	BodyMIME  BodyType = 4
)

// MessageClassNote is the message class of an ordinary e-mail.
const MessageClassNote = "IPM.Note"

// SyncRequest asks for changes in one or more collections. A zero request
// (an empty body, 12.1 and later) repeats the previous one.
type SyncRequest struct {
	Collections       []SyncCollection `wbxml:"AirSync:Collections>AirSync:Collection"`
	Wait              int              `wbxml:"AirSync:Wait,omitempty"`              // minutes, 12.1
	HeartbeatInterval int              `wbxml:"AirSync:HeartbeatInterval,omitempty"` // seconds, 14.0+
	WindowSize        int              `wbxml:"AirSync:WindowSize,omitempty"`        // 14.0+, all collections
	Partial           bool             `wbxml:"AirSync:Partial,flag"`
}

// SyncCollection is one collection of a Sync request. SyncKey "0" primes
// the collection: the server answers with a new key and no items.
type SyncCollection struct {
	Class          string        `wbxml:"AirSync:Class,omitempty"` // up to 12.1
	SyncKey        string        `wbxml:"AirSync:SyncKey"`
	CollectionID   string        `wbxml:"AirSync:CollectionId"`
	DeletesAsMoves *bool         `wbxml:"AirSync:DeletesAsMoves"`
	GetChanges     *bool         `wbxml:"AirSync:GetChanges"`
	WindowSize     int           `wbxml:"AirSync:WindowSize,omitempty"`
	Options        *SyncOptions  `wbxml:"AirSync:Options"`
	Commands       *SyncCommands `wbxml:"AirSync:Commands"` // the client's own changes
}

// SyncOptions filter and shape the items returned.
type SyncOptions struct {
	FilterType     *int             `wbxml:"AirSync:FilterType"`     // 0 all, 1 one day ... 5 one month
	Truncation     *int             `wbxml:"AirSync:Truncation"`     // 2.5 body truncation code
	MIMESupport    *int             `wbxml:"AirSync:MIMESupport"`    // 0 never, 1 S/MIME only, 2 always
	MIMETruncation *int             `wbxml:"AirSync:MIMETruncation"` // code, like Truncation
	BodyPreference []BodyPreference `wbxml:"AirSyncBase:BodyPreference"`
}

// BodyPreference says which body type the client wants and where to cut it.
type BodyPreference struct {
	Type           BodyType `wbxml:"AirSyncBase:Type"`
	TruncationSize int      `wbxml:"AirSyncBase:TruncationSize,omitempty"` // bytes; 0 = whole body
	AllOrNone      *bool    `wbxml:"AirSyncBase:AllOrNone"`
	Preview        int      `wbxml:"AirSyncBase:Preview,omitempty"`
}

func (*SyncRequest) rootTag() string { return "AirSync:Sync" }

func (r *SyncRequest) validate() error {
	return checkSyncKeys(r.Collections, func(c SyncCollection) string { return c.SyncKey })
}

// ParseSyncRequest decodes a Sync request; an empty body is legal.
func ParseSyncRequest(data []byte) (*SyncRequest, error) {
	return parse[SyncRequest](data, true)
}

// SyncResponse carries per-collection results, or only Status when the
// whole request failed. A zero response (empty body) means "no changes".
type SyncResponse struct {
	Status      SyncStatus               `wbxml:"AirSync:Status,omitempty"`
	Collections []SyncCollectionResponse `wbxml:"AirSync:Collections>AirSync:Collection"`
}

// SyncCollectionResponse is one collection's new SyncKey and its changes.
// MoreAvailable comes before Commands, as Exchange and Z-Push send it.
type SyncCollectionResponse struct {
	Class         string        `wbxml:"AirSync:Class,omitempty"`
	SyncKey       string        `wbxml:"AirSync:SyncKey"`
	CollectionID  string        `wbxml:"AirSync:CollectionId"`
	Status        SyncStatus    `wbxml:"AirSync:Status"`
	MoreAvailable bool          `wbxml:"AirSync:MoreAvailable,flag"`
	Commands      *SyncCommands `wbxml:"AirSync:Commands"`
}

// SyncCommands are item changes, from the server or the client.
type SyncCommands struct {
	Add    []SyncItem `wbxml:"AirSync:Add"`
	Change []SyncItem `wbxml:"AirSync:Change"`
	Delete []SyncItem `wbxml:"AirSync:Delete"`
}

// SyncItem is one added, changed or deleted item (a deletion has only
// ServerID).
type SyncItem struct {
	ServerID        string `wbxml:"AirSync:ServerId,omitempty"`
	ClientID        string `wbxml:"AirSync:ClientId,omitempty"`
	ApplicationData *Email `wbxml:"AirSync:ApplicationData"`
}

func (*SyncResponse) rootTag() string { return "AirSync:Sync" }

func (r *SyncResponse) validate() error {
	return checkSyncKeys(r.Collections, func(c SyncCollectionResponse) string { return c.SyncKey })
}

// ParseSyncResponse decodes a Sync response; an empty body is legal.
func ParseSyncResponse(data []byte) (*SyncResponse, error) {
	return parse[SyncResponse](data, true)
}

// Email is the ApplicationData of a mail item. The body travels in
// Email:Body/BodySize/BodyTruncated at 2.5 and in AirSyncBase:Body from 12.0;
// set it with SetBody so the version picks the tags.
type Email struct {
	To            string    `wbxml:"Email:To,omitempty"`
	Cc            string    `wbxml:"Email:Cc,omitempty"`
	From          string    `wbxml:"Email:From,omitempty"`
	ReplyTo       string    `wbxml:"Email:Reply-To,omitempty"`
	Subject       string    `wbxml:"Email:Subject,omitempty"`
	DateReceived  time.Time `wbxml:"Email:DateReceived,omitempty"`
	DisplayTo     string    `wbxml:"Email:DisplayTo,omitempty"`
	ThreadTopic   string    `wbxml:"Email:ThreadTopic,omitempty"`
	Importance    *int      `wbxml:"Email:Importance"` // 0 low, 1 normal, 2 high
	Read          *bool     `wbxml:"Email:Read"`
	LegacyBody    string    `wbxml:"Email:Body,omitempty"`
	BodySize      int       `wbxml:"Email:BodySize,omitempty"`
	BodyTruncated *bool     `wbxml:"Email:BodyTruncated"`
	Body          *Body     `wbxml:"AirSyncBase:Body"`
	MessageClass  string    `wbxml:"Email:MessageClass,omitempty"`
	InternetCPID  string    `wbxml:"Email:InternetCPID,omitempty"` // 65001 for UTF-8
	ContentClass  string    `wbxml:"Email:ContentClass,omitempty"`
	NativeBody    BodyType  `wbxml:"AirSyncBase:NativeBodyType,omitempty"`
	IsDraft       *bool     `wbxml:"Email2:IsDraft"` // 16.0 and later, server to client only
}

// Body is AirSyncBase:Body (12.0 and later).
type Body struct {
	Type              BodyType `wbxml:"AirSyncBase:Type"`
	EstimatedDataSize int      `wbxml:"AirSyncBase:EstimatedDataSize"`
	Truncated         bool     `wbxml:"AirSyncBase:Truncated,omitempty"`
	Data              string   `wbxml:"AirSyncBase:Data,omitempty"`
	Preview           string   `wbxml:"AirSyncBase:Preview,omitempty"`
}

// SetBody stores text as the message body in the form version expects,
// cut to at most limit bytes (0 = no limit) on a UTF-8 boundary. Strict
// 12.0+ clients reject the 2.5 tags and 2.5 clients do not know
// AirSyncBase, so the other form is cleared.
func (e *Email) SetBody(version string, typ BodyType, text string, limit int) error {
	i := slices.Index(versions, version)
	if i < 0 {
		return fmt.Errorf("eas: body for unknown protocol version %q", version)
	}
	data, truncated := text, false
	if limit > 0 && len(text) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		data, truncated = text[:cut], true
	}
	if version == "2.5" {
		e.Body = nil
		e.LegacyBody, e.BodySize, e.BodyTruncated = data, len(text), &truncated
		return nil
	}
	e.LegacyBody, e.BodySize, e.BodyTruncated = "", 0, nil
	e.Body = &Body{Type: typ, EstimatedDataSize: len(text), Truncated: truncated, Data: data}
	return nil
}

// BodyText returns the body text of either form.
func (e *Email) BodyText() string {
	if e.Body != nil {
		return e.Body.Data
	}
	return e.LegacyBody
}
