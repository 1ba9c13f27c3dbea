// Package profile owns the one table of device profiles (wm5, wm6, wm65, ios,
// android, modern): key type and size, signature algorithm, host-name rules,
// TLS versions and suites, CAB compression, ActiveSync version and heartbeat
// behaviour, and the checks that say whether a device of a profile would
// accept a certificate.
//
// Issuing, serving, verifying and packaging all read this table; nothing else
// may restate these facts. It must not import any other pushca package and
// must not do I/O.
package profile
