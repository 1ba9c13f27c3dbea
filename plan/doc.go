// Package plan owns the pre-flight of a certificate change (renew, rotate,
// revoke, a family added or dropped): given the chain families a host will
// serve afterwards and the device records the endpoint has collected, which
// known devices of the host would be left without any chain they accept.
//
// What a device accepts comes from package profile's table (its DeviceType
// and EASVersion columns), and for a device the table does not know, from
// the family the endpoint chose for the device's own ClientHello; plan
// restates no device fact itself.
//
// It does no I/O of its own: the caller reads the CA's inventory and the
// device records (package push) and hands them in. It never prompts or
// prints; the CLI decides whether a loss refuses the change.
package plan
