package state

import (
	"maps"
	"slices"
	"time"
)

// Message is a test message delivered into a user's folder.
type Message struct {
	ID string `json:"id"`
	// Seq is the folder's sequence once the message was stored.
	Seq      uint64    `json:"seq"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Subject  string    `json:"subject"`
	Body     string    `json:"body"`
	Received time.Time `json:"received"`
}

// PingLog is one Ping of a device.
type PingLog struct {
	Start     time.Time `json:"start"`
	Heartbeat int       `json:"heartbeat"`
	Outcome   string    `json:"outcome"`
	// Held is how long the request was parked, in whole seconds.
	Held int `json:"held"`
}

// SyncState is where a device stands in one collection.
type SyncState struct {
	Key string `json:"key"`
	// Seq is the folder sequence number the device has seen up to.
	Seq uint64 `json:"seq"`
}

// Device is everything the endpoint remembers about one device of one user.
type Device struct {
	User     string `json:"user"`
	ID       string `json:"id"`
	Type     string `json:"type,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	// Model, OS and UserAgent are what the device says about itself.
	Model     string `json:"model,omitempty"`
	OS        string `json:"os,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`

	// PolicyKey is the acknowledged key; PendingPolicyKey the temporary one
	// handed out in the first Provision phase.
	PolicyKey        uint32 `json:"policyKey,omitempty"`
	PendingPolicyKey uint32 `json:"pendingPolicyKey,omitempty"`

	FolderSyncKey string               `json:"folderSyncKey,omitempty"`
	Sync          map[string]SyncState `json:"sync,omitempty"`

	// Heartbeat and Folders are the last valid Ping's, reused by an empty Ping.
	Heartbeat int       `json:"heartbeat,omitempty"`
	Folders   []string  `json:"folders,omitempty"`
	Pings     []PingLog `json:"pings,omitempty"`
	LowWarned bool      `json:"lowWarned,omitempty"`

	// Cert is the serial of the server certificate of the device's latest
	// handshake, which tells who is still on a connection from before a
	// renewal.
	Cert string `json:"cert,omitempty"`
	// Family is the chain family of Cert: which chain the server chose for
	// the device's ClientHello ("" for a chain of no family).
	Family string `json:"family,omitempty"`

	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// AverageHeartbeat is the mean of the recorded heartbeats (0 when none).
func (d Device) AverageHeartbeat() int {
	if len(d.Pings) == 0 {
		return 0
	}
	sum := 0
	for _, p := range d.Pings {
		sum += p.Heartbeat
	}
	return sum / len(d.Pings)
}

// Clone returns a copy sharing nothing with d, for a caller that changes it.
func (d Device) Clone() Device {
	d.Folders = slices.Clone(d.Folders)
	d.Pings = slices.Clone(d.Pings)
	d.Sync = maps.Clone(d.Sync)
	return d
}
