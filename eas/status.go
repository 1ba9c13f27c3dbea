package eas

import "strconv"

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
