// Package testtool finds the outside tools that tests use as oracles
// (openssl, cabextract, gcab, osslsigncode, wbxml2xml, xmllint, zbarimg, ...)
// and runs them.
//
// A missing tool fails the test when CI=true and skips it otherwise. It is for
// tests only and must not be imported by non-test code.
package testtool
