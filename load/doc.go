// Package load measures a DirectPush endpoint the way a fleet loads it:
// many devices holding Pings over TLS from several loopback source
// addresses, push-to-answer latency for one device while the rest are held,
// a broadcast to all of them, handshake rates, and the server's memory and
// idle CPU read from /proc (the server found by its listening port).
//
// It speaks to the server only through the eas client and an injected
// delivery function, so it measures pushca serve and any other server
// alike. It must not import push (the server under test) and must only ever
// dial the addresses it is given, which callers keep on loopback; every
// loop is bounded by a count and by the run's context.
package load
