// Package profile owns the one table of device profiles (wm5, wm6, wm65, ios,
// android, modern): what each accepts (keys, signatures, host-name rules,
// validity), TLS versions and suites, CAB compression, ActiveSync version and
// heartbeat behaviour, and the checks that say whether a device of a profile
// would accept a certificate; and, beside it, the table of chain families
// (legacy, modern, modern-rsa): the key type, signature and validity cap
// pushca issues each chain generation with, and which family serves which
// profile.
//
// Issuing, serving, verifying and packaging all read this table; nothing else
// may restate these facts. It must not import any other pushca package and
// must not do I/O.
package profile
