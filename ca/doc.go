// Package ca owns the private CA and its state directory: root and
// intermediate certificates and their encrypted keys, the step-ca compatible
// configuration, server certificates and keys, and the inventory database
// (smallstep nosql on bbolt). It issues, renews, rotates and revokes server
// certificates under a device profile, generates the CRL, and self-checks
// every chain it issues.
//
// It reads device rules only from package profile and templates only from
// package templates; it never prompts, prints or reads flags (the CLI does),
// and never logs a password or key.
package ca
