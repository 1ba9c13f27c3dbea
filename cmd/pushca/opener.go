package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
)

// openCA opens the state directory of --dir with the CA password and
// finishes anything a crash interrupted, saying what it did.
func openCA(c *cli.Context) (*ca.CA, error) {
	pw, err := caPassword(c, false)
	if err != nil {
		return nil, err
	}
	return openCAWith(c, pw)
}

// openCAWith is openCA with the password already at hand.
func openCAWith(c *cli.Context, pw []byte) (*ca.CA, error) {
	if err := checkDBFlag(c); err != nil {
		return nil, err
	}
	authority, err := ca.Open(c.Context, c.String("dir"), pw)
	if err != nil {
		return nil, err
	}
	notes, err := authority.Repair(c.Context)
	for _, n := range notes {
		fmt.Fprintln(stderr(c), "pushca: repair:", n)
	}
	if err != nil {
		authority.Close()
		return nil, err
	}
	return authority, nil
}

// withCA runs fn with the opened CA and closes it afterwards: the action of
// every command that needs the CA password.
func withCA(fn func(c *cli.Context, authority *ca.CA) error) cli.ActionFunc {
	return withRootKey(func(c *cli.Context, authority *ca.CA, _ []byte) error { return fn(c, authority) })
}

// withReader runs fn with the state directory opened to read, without the
// CA password: the action of the commands that only look.
func withReader(fn func(c *cli.Context, r *ca.Reader) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := checkDBFlag(c); err != nil {
			return err
		}
		r, err := ca.OpenReader(c.Context, c.String("dir"))
		if err != nil {
			return err
		}
		defer r.Close()
		return fn(c, r)
	}
}

// withRootKey is withCA for the commands that also decrypt the root key
// (adding or rotating intermediates), which takes the password again.
func withRootKey(fn func(c *cli.Context, authority *ca.CA, password []byte) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		pw, err := caPassword(c, false)
		if err != nil {
			return err
		}
		authority, err := openCAWith(c, pw)
		if err != nil {
			return err
		}
		defer authority.Close()
		return fn(c, authority, pw)
	}
}

// dbFlag is --db (or PUSHCA_DB) checked, "" for bbolt; set reports whether
// it was given at all.
func dbFlag(c *cli.Context) (dsn string, set bool, err error) {
	if !c.IsSet("db") {
		return "", false, nil
	}
	dsn, err = ca.CheckDSN(c.String("db"))
	if err != nil {
		return "", true, fmt.Errorf("--db (or PUSHCA_DB): %w", err)
	}
	return dsn, true, nil
}

// checkDBFlag refuses a --db (or PUSHCA_DB) that names another database
// than the one --dir's pushca.json records: the CA moves only through
// `ca migrate`, never by a flag that would open an empty database.
func checkDBFlag(c *cli.Context) error {
	dsn, set, err := dbFlag(c)
	if err != nil || !set {
		return err
	}
	recorded, err := ca.RecordedDB(c.String("dir"))
	if errors.Is(err, ca.ErrNotInitialized) {
		return nil // the open says so
	}
	if err != nil {
		return err
	}
	if dsn != recorded {
		return fmt.Errorf("--db (or PUSHCA_DB) names %s, but the CA in %s is on %s; to move it there, run `pushca --dir %s ca migrate --to %s`",
			dbName(dsn), c.String("dir"), dbName(recorded), c.String("dir"), dbName(dsn))
	}
	return nil
}

// dbName is a database as messages name it: bbolt, or its URL.
func dbName(dsn string) string {
	if dsn == "" {
		return ca.BoltDB
	}
	return dsn
}
