// Package push owns the SSL-only DirectPush verification endpoint: the TLS
// listener, which chooses one of the CA's chain families per ClientHello
// (choose.go) and reloads certificates hot, Basic auth against a users
// file, the per-user mailbox and Ping hub, per-device records (bbolt), the
// ActiveSync handler, the plain-HTTP enrollment listener (with each
// family's CRL), the loopback admin API, and on the TLS listener the
// token-guarded dashboard and Prometheus metrics, and mobile Autodiscover
// (TLS, Basic auth; a redirect to it on the plain-HTTP listener) naming the
// configured URL, never one taken from a request. Every refused or failed
// request is logged at info with its reason (refuse.go).
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
