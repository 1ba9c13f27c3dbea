// Package eas speaks Exchange ActiveSync: the WBXML codec with the ActiveSync
// code pages, typed request and response bodies of the commands a DirectPush
// endpoint needs (Ping, FolderSync, Provision, GetItemEstimate, Sync,
// Settings) at protocol versions 2.5 to 16.1, the plain and base64 query
// forms, Basic credentials, the plain-XML mobile Autodiscover request and
// response ([MS-ASCMD] 2.2.1.1), and a client that behaves like a device.
//
// It imports no other pushca package: push/ (the server) and verify/ (the
// device emulator) build on it. It does no logging, and Credentials format
// without their password so a caller's log line cannot leak one. Everything
// read from the network is bounded (Limits, query and header sizes) and fails
// with an error, never a panic.
package eas
