package provision

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pushca/pushca/profile"
)

// ServerName checks an Exchange server name as a person typed it and
// returns the form packages carry: lower case, without a trailing dot, an
// international name in its ASCII (punycode) form, since neither Windows
// Mobile nor a certificate knows any other. display is the name as people
// read it (bücher.example for xn--bcher-kva.example); it equals ascii for
// every other name. An IP address is accepted as Go prints it.
func ServerName(s string) (ascii, display string, err error) {
	if s == "" {
		return "", "", errors.New("server host name is empty")
	}
	if err := checkText("server", s); err != nil {
		return "", "", err
	}
	if strings.Contains(s, "/") {
		return "", "", fmt.Errorf("server %s: give the host name only, without scheme or path", clip(s))
	}
	ascii, display, err = profile.HostName(s)
	if err != nil {
		return "", "", fmt.Errorf("server %s: %w", clip(s), err)
	}
	return ascii, display, nil
}
