// Package push owns the SSL-only DirectPush verification endpoint and
// assembles the server (server.go): the TLS listener, which chooses one of
// the CA's chain families per ClientHello (choose.go) and reloads
// certificates hot, Basic auth verifying logins against the users of a
// state.UserSource (users.go: bcrypt, the verified cache, the dummy hash),
// the ActiveSync handler with the connections of held Pings (parked.go),
// and mobile Autodiscover (TLS, Basic auth; a redirect to it on the
// plain-HTTP listener) naming the configured URL, never one taken from a
// request. Every refused or failed request is logged at info with its
// reason (refuse.go).
//
// It mounts what other packages own: the Ping machinery (package ping),
// the plain-HTTP enrollment site with each family's CRL (package enroll),
// and the loopback admin API, the dashboard and the Prometheus metrics
// (package ops). Those import no part of this package.
//
// What users' devices and mailboxes hold lives behind package state's
// interfaces (the users, the mailbox and its change feed, the device
// records), with every implementation but PostgreSQL's (package pgstate):
// the handlers call only those, so that a store several endpoints share can
// replace the users file, the bbolt device records and the in-memory
// mailbox a server opens in its state directory.
//
// It reads server certificates from the state directory by their layout
// paths and never writes them itself: renewals and CRLs (auto-renew) go
// through package ca. It takes device TLS rules only from package profile
// and WBXML only from package eas. It must never serve the ActiveSync path
// without TLS, never read credentials on plain HTTP (the ActiveSync path is
// refused there before the enrollment site sees it), and never log a
// password or an Authorization header.
//
// What an unauthenticated client can spend is bounded: logins back off per
// user and client (package internal/backoff) and count an attempt before
// its bcrypt comparison, which runs a few at a time per client and in all
// (auth.go). What one account can spend is bounded too: device records and
// held Pings per user (Config.DevicesPerUser). A users file that stops
// parsing fails closed for every user it no longer lists unchanged (Users).
package push
