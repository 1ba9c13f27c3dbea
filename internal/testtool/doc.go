// Package testtool finds the outside tools that tests use as oracles
// (openssl, cabextract, gcab, osslsigncode, wbxml2xml, xmllint, zbarimg, ...)
// and runs them, and holds the small helpers many packages' tests share
// (helpers.go: a logger into the test's output, a bounded wait, files for
// the oracles to read).
//
// A missing tool fails the test when CI=true and skips it otherwise. It is for
// tests only and must not be imported by non-test code.
package testtool
