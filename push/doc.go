// Package push owns the SSL-only DirectPush verification endpoint: the TLS
// listener, which chooses one of the CA's chain families per ClientHello
// (choose.go) and reloads certificates hot, Basic auth verifying logins
// against the users of a state.UserSource (users.go: bcrypt, the verified
// cache, the dummy hash), the Ping machinery (hub.go parks and ends Pings,
// feed.go wakes them on the store's change feed, parked.go keeps their
// connections), the ActiveSync handler, the plain-HTTP enrollment listener (with each
// family's CRL), the loopback admin API, and on the TLS listener the
// token-guarded dashboard and Prometheus metrics, and mobile Autodiscover
// (TLS, Basic auth; a redirect to it on the plain-HTTP listener) naming the
// configured URL, never one taken from a request. Every refused or failed
// request is logged at info with its reason (refuse.go).
//
// What users' devices and mailboxes hold lives behind package state's
// interfaces (the users, the mailbox and its change feed, the device
// records), with every implementation but PostgreSQL's (package pgstate):
// the hub and handlers call only those, so that a store several endpoints
// share can replace the users file, the bbolt device records and the
// in-memory mailbox a server opens in its state directory. A held Ping is woken only by
// the feed, never by polling the store; the hub reads the store's
// sequences when a Ping comes and when the feed says it lost changes.
//
// It reads server certificates, the CRLs and the root from the state
// directory by their layout paths and never writes them itself: renewals
// and CRLs (auto-renew) go through package ca. It takes device TLS rules only
// from package profile, WBXML only from package eas, and the enrollment
// pages' downloads and sheets only from package provision. It must never serve
// the ActiveSync path without TLS, never read credentials on plain HTTP, and
// never log a password or an Authorization header.
//
// What an unauthenticated client can spend is bounded: logins back off per
// user and client and count an attempt before its bcrypt comparison, which
// runs a few at a time per client and in all (auth.go); the dashboard and
// /metrics refuse TLS below 1.2. What one account can spend is bounded
// too: device records and held Pings per user (Config.DevicesPerUser). A
// users file that stops parsing fails closed for every user it no longer
// lists unchanged (Users).
package push
