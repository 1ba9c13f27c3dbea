// Package pgstate keeps the push endpoint's state in PostgreSQL, so that
// several endpoints behind any TCP load balancer serve the same users:
// the test mailbox and its change feed (state.Store) and the device
// records (state.Devices); the users file's table joins them (users.go).
//
// It owns the tables prefixed pushca_push_ (folders with their sequence,
// messages, devices), made under an advisory lock when missing; the
// NOTIFY channel pushca_push; and one listening connection per DB, named
// pushca-push-listen-INSTANCE in pg_stat_activity. A delivery bumps the
// folder's sequence, stores the message, trims the folder and notifies in
// one statement; each notification is a JSON array carrying user, folder
// and sequence (or the device of a PingHeld) and the instance that made
// it, which raises it to its own subscribers itself and drops the echo.
// When the listening connection fails, it reconnects with a bounded
// backoff and raises state.Resync, for held Pings to re-read their
// folders: NOTIFY has no replay.
//
// It must never poll: a change arrives as a notification or a Resync. It
// must never touch the CA's tables (step-ca's nosql ones and the
// inventory share the database), never log a DSN (a password may have
// slipped in) or a message's body, and name the server in errors by
// host:port only.
package pgstate
