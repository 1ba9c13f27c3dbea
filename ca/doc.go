// Package ca owns the private CA and its state directory: one root and, under
// it, one intermediate per chain family (profile's family table), their
// encrypted keys, the step-ca compatible configuration, server certificates
// and keys (one per family per host), and the inventory database (smallstep
// nosql on bbolt). It issues, renews, rotates and revokes server
// certificates per family, adds families under the same root, generates each
// family's CRL, and self-checks every chain it issues against every device
// profile the family serves. It writes each family's step-ca configuration
// (config/ca*.json) with a JWK and an ACME provisioner that sign by the
// family's rules, so step-ca on the directory, and the ACME endpoint
// (package acmesrv) on its authorities, issue only what that self-check
// accepts; what they issue is in the inventory with its source. The root
// signs the CRL of revoked intermediates.
//
// It reads device rules only from package profile and templates only from
// package templates; it never prompts, prints or reads flags (the CLI does),
// and never logs a password or key.
package ca
