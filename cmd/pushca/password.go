package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// passwordFileFlag is the only way besides a prompt to give the CA password:
// never a flag value (it would show in ps and shell history).
func passwordFileFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "password-file",
		Usage:   "file holding the CA password (first line); without it pushca prompts",
		EnvVars: []string{"PUSHCA_PASSWORD_FILE"},
	}
}

// caPassword reads the CA password from --password-file (or
// PUSHCA_PASSWORD_FILE) or a no-echo prompt. confirm asks twice, for new
// passwords.
func caPassword(c *cli.Context, confirm bool) ([]byte, error) {
	return readPassword(c, "CA password", confirm)
}

// readPassword is the one way any command gets a secret: the first line of
// --password-file, or a no-echo prompt on the terminal asking for what;
// never a flag value. confirm asks twice.
func readPassword(c *cli.Context, what string, confirm bool) ([]byte, error) {
	if f := c.String("password-file"); f != "" {
		return readSecretFile(f)
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		return nil, fmt.Errorf("no %s: give --password-file (there is no terminal to prompt on)", what)
	}
	defer tty.Close()
	pw, err := prompt(tty, what+": ")
	if err != nil {
		return nil, err
	}
	if confirm {
		again, err := prompt(tty, "Repeat "+what+": ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the two passwords differ")
		}
	}
	if len(pw) == 0 {
		return nil, fmt.Errorf("empty %s", what)
	}
	return pw, nil
}

func prompt(tty *os.File, msg string) ([]byte, error) {
	fmt.Fprint(tty, msg)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	return pw, nil
}

// readSecretFile returns the first line of a password file.
func readSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read password file %s: %w", path, err)
	}
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("password file %s: first line is empty", path)
	}
	return b, nil
}
