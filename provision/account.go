package provision

import (
	"errors"
	"fmt"
	"strings"
)

// Account is an Exchange ActiveSync account as devices are given it. There
// is deliberately no password: the device asks its user, and no bundle ever
// carries a credential.
type Account struct {
	// Server is the host name alone (mail.example.com): Windows Mobile's Sync
	// CSP and Apple's Host key both take no scheme and no path.
	Server string
	User   string
	// Domain is the Windows domain, empty when User is a UPN or the server
	// needs none.
	Domain string
	// Email is optional; iOS prompts for it when absent.
	Email string
}

func (a Account) check() error {
	if a.Server == "" {
		return errors.New("account: server host name is empty")
	}
	if err := checkText("server", a.Server); err != nil {
		return err
	}
	if strings.Contains(a.Server, "/") || strings.ContainsFunc(a.Server, isSpace) {
		return fmt.Errorf("server %q: give the host name only, without scheme, path or spaces", a.Server)
	}
	if a.User == "" {
		return errors.New("account: user name is empty")
	}
	if err := checkText("user", a.User); err != nil {
		return err
	}
	if err := checkText("domain", a.Domain); err != nil {
		return err
	}
	if err := checkText("email", a.Email); err != nil {
		return err
	}
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		return fmt.Errorf("email %q: no @", a.Email)
	}
	return nil
}

func isSpace(r rune) bool { return r == ' ' || r == '\u00a0' || r == '\u3000' }
