package eas

import (
	"fmt"
	"strconv"
)

// Status codes any 14.0+ command response may carry in its Status element
// ([MS-ASCMD] 2.2.2 common status codes); they replace HTTP 449.
const (
	StatusDeviceNotProvisioned = 142
	StatusPolicyRefresh        = 143
	StatusInvalidPolicyKey     = 144
)

// NeedsProvision reports whether a response Status asks the client to run
// Provision again before retrying.
func NeedsProvision(status int) bool {
	return status == StatusDeviceNotProvisioned || status == StatusPolicyRefresh || status == StatusInvalidPolicyKey
}

func statusText(names map[int]string, v int) string {
	if n, ok := names[v]; ok {
		return n
	}
	switch v {
	case StatusDeviceNotProvisioned:
		return "device not provisioned"
	case StatusPolicyRefresh:
		return "policy refresh"
	case StatusInvalidPolicyKey:
		return "invalid policy key"
	}
	return "status " + strconv.Itoa(v)
}

// statusElements name each command's root and top-level Status element.
var statusElements = map[string][2]string{
	"Ping":            {"Ping:Ping", "Ping:Status"},
	"FolderSync":      {"FolderHierarchy:FolderSync", "FolderHierarchy:Status"},
	"GetItemEstimate": {"GetItemEstimate:GetItemEstimate", "GetItemEstimate:Status"},
	"Sync":            {"AirSync:Sync", "AirSync:Status"},
	"Settings":        {"Settings:Settings", "Settings:Status"},
	"Provision":       {"Provision:Provision", "Provision:Status"},
}

// StatusBody returns a response for cmd holding only its top-level Status:
// how a 14.0+ server answers with a common status such as 142-144.
func StatusBody(cmd string, status int) ([]byte, error) {
	tags, ok := statusElements[cmd]
	if !ok {
		return nil, fmt.Errorf("eas: no status response for command %q", cmd)
	}
	return Encode(NewElement(tags[0], TextElement(tags[1], strconv.Itoa(status))))
}

// UsesHTTP449 reports whether a device of version expects HTTP 449 rather
// than Status 142-144 when it must provision ([MS-ASHTTP]: up to 12.1).
func UsesHTTP449(version string) bool {
	return !VersionAtLeast(version, "14.0")
}
