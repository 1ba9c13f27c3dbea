// Package provision makes the artefacts that get a private root and an
// Exchange account onto devices: Windows Mobile provisioning XML
// (CertificateStore and Sync CSPs) packaged as CAB/CPF, Apple .mobileconfig
// profiles, Android .crt files with instructions, QR codes for enrollment
// URLs, printable HTML sheets, the fingerprints that pages and sheets show
// beside them, and fleet bundles: a CSV of users in, a folder or zip per user
// and a manifest out.
//
// It reads device rules from package profile, templates from package
// templates, and builds and signs cabinets with package cab. It must not import
// ca, push or eas, writes files only into a bundle's output directory (every
// other artefact is returned for the caller to write atomically), and has no way
// to put a password into any artefact: credentials never travel in a package.
package provision
