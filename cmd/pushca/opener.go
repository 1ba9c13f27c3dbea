package main

import (
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
