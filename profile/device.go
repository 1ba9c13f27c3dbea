package profile

import "strings"

// ForDevice returns the profiles, in table order, whose DeviceType and
// EASVersion are what a device sent (its DeviceType and
// MS-ASProtocolVersion): the table's guess of what the device accepts.
// Several rows can share both (android and modern); none matching means the
// table does not know the device, and a caller must then go by what the
// device was observed to accept rather than guess from the type alone: an
// iPhone speaking a version the table lacks may be an old one that takes
// only what Windows Mobile takes.
//
// DeviceType is compared without regard to case, since clients and
// proxies differ in it; the version is compared exactly.
func ForDevice(deviceType, protocolVersion string) []Profile {
	var out []Profile
	for _, p := range table {
		if p.DeviceType != "" && strings.EqualFold(p.DeviceType, deviceType) && p.EASVersion == protocolVersion {
			out = append(out, p.clone())
		}
	}
	return out
}
