// Package ops owns the endpoint's operations surfaces, each behind a
// bearer token kept in a file and re-read on SIGHUP (Token): the loopback
// admin API (admin.go: test deliveries, the device records) and its client
// functions for the CLI, the token-guarded dashboard on the TLS listener
// (sessions in signed cookies that logout and SIGHUP end, logins that back
// off per client), and the Prometheus metrics (Metrics), which the hub and
// the ActiveSync handler of package push count into.
//
// The admin API is plain HTTP, so it listens on loopback only
// (ListenLoopback). The dashboard and /metrics refuse TLS below 1.2: TLS 1.0
// and its weak suites are on the listener for Windows Mobile's ActiveSync
// only and must not carry a token or a session cookie. A dashboard POST
// from another origin is refused. Tokens are compared in constant time and
// never logged.
//
// It reaches the held Pings through package ping's Hub and the device
// records through package state's interfaces; what it needs of the server
// (the users, the served certificates) it is given as narrow interfaces and
// functions, since package push assembles it and must not be imported here.
package ops
