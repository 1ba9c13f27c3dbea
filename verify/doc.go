// Package verify checks an ActiveSync server the way a device of a given
// profile would: the TLS handshake with the ClientHello the profile's
// devices send (so a server choosing a chain family per hello answers as it
// would answer them), the profile's chain checks on the chain presented to
// that hello (profile.VerifyChain, since Go refuses SHA-1 chains) and which
// chain family it was, the command flow a device runs (OPTIONS, Provision,
// FolderSync, GetItemEstimate, Sync, Ping), an optional push-latency
// measurement, and the heartbeat ladder that finds how long the network
// path keeps an idle Ping alive.
//
// It owns the device emulation only: device rules come from package
// profile, the protocol from package eas, and delivering a test message is
// a function the caller supplies. It holds no state between runs, writes no
// files, and never sends credentials over a connection whose chain a device
// would refuse. Every network step is bounded by a timeout and the caller's
// context; when that context ends, Run returns ErrInterrupted with the
// checks that finished, and none made of the interruption.
package verify
