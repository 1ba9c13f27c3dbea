package provision

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Account is an Exchange ActiveSync account as devices are given it. There
// is deliberately no password: the device asks its user, and no bundle ever
// carries a credential.
type Account struct {
	// Server is the host name alone (mail.example.com) as ServerName
	// returns it: Windows Mobile's Sync CSP and Apple's Host key both take
	// no scheme and no path, and no device converts an international name.
	Server string
	User   string
	// Domain is the Windows domain, empty when User is a UPN or the server
	// needs none.
	Domain string
	// Email is optional; iOS prompts for it when absent.
	Email string
}

func (a Account) check() error {
	ascii, _, err := ServerName(a.Server)
	if err != nil {
		return err
	}
	if !strings.EqualFold(ascii, a.Server) {
		return fmt.Errorf("server %s: packages carry it as %q", clip(a.Server), ascii)
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
	return checkEmail(a.Email)
}

// checkEmail accepts an empty address or one bare address: iOS puts the
// field into the account as it is, and a display name, angle brackets or a
// second address there make an account that cannot send.
func checkEmail(s string) error {
	if s == "" {
		return nil
	}
	if err := checkText("email", s); err != nil {
		return err
	}
	if !strings.Contains(s, "@") {
		return fmt.Errorf("email %s: no @", clip(s))
	}
	addr, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("email %s: not an address (%s)", clip(s), strings.TrimPrefix(err.Error(), "mail: "))
	}
	if addr.Address != s {
		return fmt.Errorf("email %s: give the bare address %q, without a name, angle brackets, quotes or comments", clip(s), addr.Address)
	}
	return nil
}
