// Package ca owns the private CA and its state directory: one root and, under
// it, one intermediate per chain family (profile's family table), their
// encrypted keys, the step-ca compatible configuration, server certificates
// and keys (one per family per host), and the inventory database (smallstep
// nosql on bbolt or PostgreSQL). It issues, renews, rotates and revokes server
// certificates per family, adds families under the same root, generates each
// family's CRL, and self-checks every chain it issues against every device
// profile the family serves. It writes each family's step-ca configuration
// (config/ca*.json) with a JWK and an ACME provisioner that sign by the
// family's rules, so step-ca on the directory, and the ACME endpoint
// (package acmesrv) on its authorities, issue only what that self-check
// accepts; what they issue is in the inventory with its source. The root
// signs the CRL of revoked intermediates.
//
// The database is the bbolt file db/pushca.db by default (no server), or
// a PostgreSQL database that pushca.json and config/ca*.json name (State.DB,
// a URL that never carries a password: pgx reads ~/.pgpass, PGPASSFILE or
// PGPASSWORD), reached through smallstep/nosql's driver as step-ca reaches
// it. On PostgreSQL several operators' state directories (copies of one,
// each with its own certificate and key files) share the tables: each
// operation on a host holds an advisory lock of the host in the database,
// and each CRL writer a global one, for its whole check-sign-record-link,
// and decides only on what it reads under the lock; each record names the
// directory that holds its files (Record.Files), which alone checks and
// repairs them. Migrate moves the tables between bbolt and PostgreSQL in
// either direction; Backup writes a CA on PostgreSQL as one on bbolt.
//
// It reads device rules only from package profile and templates only from
// package templates; it never prompts, prints or reads flags (the CLI does),
// and never logs a password or key.
package ca
