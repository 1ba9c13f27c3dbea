// Package ping owns the Ping machinery of the ActiveSync endpoint: the hub
// (hub.go) parks Pings, ends them on their heartbeat, a newer Ping of the
// device or shutdown, and wakes them on the store's change feed (feed.go);
// Deliver puts a test message into a user's Inbox. It also owns the fixed
// folder hierarchy a Ping may watch and the heartbeat bounds it may ask for.
//
// What devices and mailboxes hold lives behind package state's interfaces:
// the hub calls only those, so that endpoints sharing a store (package
// pgstate) wake each other's held Pings. A held Ping is woken only by the
// feed, never by polling the store; the hub reads the store's sequences when
// a Ping comes and when the feed says it lost changes. A held Ping costs no
// goroutine, and one user's held Pings are capped (SetPerUser).
//
// It knows nothing of HTTP, TLS or the connections a Ping arrives on (the
// caller answers in the callback it gives Hold), nor of the server's
// metrics, which it reaches only through Counters.
package ping
