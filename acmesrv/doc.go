// Package acmesrv serves ACME (RFC 8555) for the private CA: one directory
// per chain family at /acme/FAMILY/directory, answered by step-ca's own
// ACME packages (acme, acme/api, acme/db/nosql) with the family's
// authority, so that an order signs with that family's intermediate under
// that family's ACME provisioner and leaf template (see package ca).
//
// It owns the HTTP side only: routing a request to its family's authority,
// the connections that validate http-01 and tls-alpn-01 challenges, and
// turning a refusal of the family's rules into an ACME error the client can
// read. It parses no ACME message itself (step-ca does), holds no key,
// signs nothing except through the CA's authorities, keeps its data only in
// the CA's database, and neither opens a state directory nor listens: the
// caller (`pushca acme serve`, or a server mounting the handler at /acme/)
// does.
package acmesrv
