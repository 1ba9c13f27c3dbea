// Package provision makes the artefacts that get a private root and an
// Exchange account onto devices: Windows Mobile provisioning XML
// (CertificateStore and Sync CSPs) packaged as CAB/CPF, Apple .mobileconfig
// profiles, Android .crt files with instructions, QR codes for enrollment
// URLs, and the fingerprints that pages and printed sheets show beside them.
//
// It reads device rules from package profile, templates from package
// templates, and builds and signs cabinets with package cab. It must not import
// ca, push or eas, never writes files (callers do, atomically), and has no way
// to put a password into any artefact: credentials never travel in a package.
package provision
