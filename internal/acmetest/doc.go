// Package acmetest runs lego (github.com/go-acme/lego/v4), the Go ACME
// client, against pushca's ACME directories, and reads what it returns. It
// is for tests only and must not be imported by non-test code.
package acmetest
