package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
)

// cert timer writes a service and a timer that systemd-analyze accepts,
// whose command line keeps the hook's $ and % for the hook's shell.
func TestCertTimerUnits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if r := runPushca(t, nil, "--dir", dir, "cert", "timer"); r.code != 1 || !strings.Contains(r.stderr, "--password-file is required") {
		t.Errorf("timer without a password file: exit %d %q", r.code, r.stderr)
	}
	pw := filepath.Join(t.TempDir(), "ca.pw")
	hook := `systemctl reload nginx; echo "$PUSHCA_HOST" 100%`
	args := []string{"--dir", dir, "cert", "timer", "--password-file", pw, "--within", "21d", "--exec", hook}
	printed := mustPushca(t, nil, args...)
	if !strings.Contains(printed, "### /etc/systemd/system/pushca-renew.service\n") || !strings.Contains(printed, "### /etc/systemd/system/pushca-renew.timer\n") {
		t.Errorf("printed units:\n%s", printed)
	}
	out := t.TempDir()
	mustPushca(t, nil, append(args, "--out", out)...)
	service := string(testtool.ReadFile(t, filepath.Join(out, "pushca-renew.service")))
	absDir, _ := filepath.Abs(dir)
	for _, want := range []string{
		`ExecStart="` + pushcaBin + `" "cert" "renew" "--all" "--within" "21d" "--exec" "systemctl reload nginx; echo \"$$PUSHCA_HOST\" 100%%"` + "\n",
		`Environment="PUSHCA_DIR=` + absDir + `"` + "\n",
		`Environment="PUSHCA_PASSWORD_FILE=` + pw + `"` + "\n",
		"Type=oneshot\n", "UMask=0077\n",
	} {
		if !strings.Contains(service, want) {
			t.Errorf("service lacks %q:\n%s", want, service)
		}
	}
	if !strings.Contains(printed, service) {
		t.Error("the printed service differs from the written one")
	}
	timer := string(testtool.ReadFile(t, filepath.Join(out, "pushca-renew.timer")))
	for _, want := range []string{"OnCalendar=daily\n", "Persistent=true\n", "WantedBy=timers.target\n"} {
		if !strings.Contains(timer, want) {
			t.Errorf("timer lacks %q:\n%s", want, timer)
		}
	}
	o, e, err := testtool.Run(t, nil, "systemd-analyze", "verify", "--man=no", filepath.Join(out, "pushca-renew.service"), filepath.Join(out, "pushca-renew.timer"))
	if err != nil || len(o)+len(e) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s%s", err, o, e)
	}
	if r := runPushca(t, nil, append(args, "--exec", "a\nb")...); r.code != 1 || !strings.Contains(r.stderr, "line break") {
		t.Errorf("a hook over two lines: exit %d %q", r.code, r.stderr)
	}
}
