package pgstate

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pushca/pushca/push/state"
)

// channel is the one NOTIFY channel of every endpoint sharing the
// database.
const channel = "pushca_push"

// maxPayload is below PostgreSQL's limit on a NOTIFY payload (8000 bytes
// in a default build).
const maxPayload = 7900

// A notification is a JSON array, compact and unambiguous whatever a user
// name holds: [kind, instance, user, folder, device, origin, at, seq], at
// in Unix nanoseconds (0 for none). Seq comes last so that a delivery's
// statement can append the sequence it takes to a prefix made here.
func encode(instance string, c state.Change) ([]byte, error) {
	var at int64
	if !c.At.IsZero() {
		at = c.At.UnixNano()
	}
	b, err := json.Marshal([]any{c.Kind, instance, c.User, c.Folder, c.Device, c.Origin, at, c.Seq})
	if err != nil {
		return nil, err
	}
	if len(b) > maxPayload {
		return nil, fmt.Errorf("a change of user %.40q… takes %d bytes, more than a notification carries (%d)", c.User, len(b), maxPayload)
	}
	return b, nil
}

// seqPrefix is the notification of a FolderChanged without its sequence
// and closing bracket, which the delivery's statement appends.
func seqPrefix(instance, user, folder string) (string, error) {
	// The largest sequence, so that the size check holds for any.
	b, err := encode(instance, state.Change{Kind: state.FolderChanged, User: user, Folder: folder, Seq: 1<<63 - 1})
	if err != nil {
		return "", err
	}
	s := string(b)
	return s[:strings.LastIndexByte(s, ',')+1], nil
}

// decode reads a notification, and whose it is.
func decode(payload string) (instance string, c state.Change, err error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(payload), &raw); err != nil {
		return "", c, fmt.Errorf("notification %.80q: %w", payload, err)
	}
	var at int64
	fields := []any{&c.Kind, &instance, &c.User, &c.Folder, &c.Device, &c.Origin, &at, &c.Seq}
	if len(raw) != len(fields) {
		return "", c, fmt.Errorf("notification %.80q: %d fields, want %d", payload, len(raw), len(fields))
	}
	for i, r := range raw {
		if err := json.Unmarshal(r, fields[i]); err != nil {
			return "", c, fmt.Errorf("notification %.80q, field %d: %w", payload, i, err)
		}
	}
	if at != 0 {
		c.At = time.Unix(0, at).UTC()
	}
	return instance, c, nil
}
