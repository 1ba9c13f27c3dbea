// Package enroll owns the plain-HTTP enrollment site of the endpoint: the
// landing page with the root downloads for the device kinds the CA's chain
// families serve, the per-user pages behind the random tokens of the links
// file (links.go: issued and revoked by `pushca bundle`, re-read by the
// server when it changes), the root PEM, and each family's CRL and the
// root's (crl.go), which RFC 5280 expects on plain HTTP.
//
// It reads the root, the intermediates and the CRLs from the state directory
// by their layout paths and never writes them: issuing and CRLs go through
// package ca. It takes the downloads, sheets and pages only from package
// provision. The address the pages show and their QR codes carry comes from
// the configuration (PublicURL), never from a request's Host header. Being
// plain HTTP, it must never read credentials: the ActiveSync path is
// refused before this site sees it (package push).
package enroll
