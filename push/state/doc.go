// Package state owns what the push endpoint keeps about its users, and
// what more than one endpoint would share: the users (names in normal
// form and their bcrypt hashes), the test mailbox (folders of messages,
// each with a sequence that grows with every change), the device records
// (policy and sync keys, the Ping cache, Ping history), and the change
// feed that tells an endpoint's held Pings that a folder moved, wherever
// the change was made. It defines them as interfaces, so that a store
// shared by several endpoints (PostgreSQL, woken through LISTEN/NOTIFY,
// in package pgstate) slots in beside the one-server implementations
// here: the users file (usersfile.go), the device records in a bbolt file
// (boltdevices.go) and the in-memory mailbox (memory.go). statetest holds
// the contract every mailbox and device store must pass.
//
// It must not import package push or know about HTTP, WBXML, logins or
// held Pings (verifying a password is push.Users'): the Ping machinery lives in push and subscribes to the feed. It
// must never poll: a change is raised by whoever made it, and a feed that
// may have missed changes says so with a Resync instead.
package state
