// Package pgtest starts a throwaway PostgreSQL server for tests: Debian's
// postgresql binaries, initdb into a temporary directory, one postgres
// process on a free loopback port, run as an unprivileged user, stopped
// (and its directory removed) when the test ends, or by the kernel when the
// test process dies first.
//
// A missing PostgreSQL fails the test when CI=true and skips it otherwise,
// as testtool does for every oracle. It is for tests only and must not be
// imported by non-test code.
package pgtest
