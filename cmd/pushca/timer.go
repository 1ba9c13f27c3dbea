package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/templates"
)

func certTimerCommand() *cli.Command {
	return &cli.Command{
		Name:  "timer",
		Usage: "print a systemd service and timer that run `pushca cert renew --all` daily",
		UsageText: `pushca --dir /var/lib/pushca cert timer --password-file /root/ca.pw --exec 'systemctl reload nginx'
   pushca --dir /var/lib/pushca cert timer --password-file /root/ca.pw --out /etc/systemd/system && systemctl daemon-reload && systemctl enable --now pushca-renew.timer`,
		Description: `The service runs, as root unless you add User=,
  pushca cert renew --all --within WITHIN --exec CMD
on the state directory --dir with the CA password file --password-file (named,
not read: the file must be readable by the service). The timer starts it
--on-calendar (daily), an hour's random delay, and catches up after downtime.
A failing renewal or hook fails the service, so systemctl --failed shows it.
ExecStart names this very binary: run cert timer from the installed pushca,
not from go run.
Without --out both units are printed; with it they are written there as
NAME.service and NAME.timer (0644: they hold paths, no secrets).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "password-file", EnvVars: []string{"PUSHCA_PASSWORD_FILE"}, Usage: "CA password file the service will read (required: a timer has no terminal to prompt on)"},
			&cli.StringFlag{Name: "within", Value: "30d", Usage: "renew what expires within this: days (30d) or a Go duration (720h)"},
			&cli.StringFlag{Name: "exec", Usage: "deploy hook passed to cert renew --exec"},
			&cli.StringFlag{Name: "on-calendar", Value: "daily", Usage: "systemd OnCalendar= of the timer"},
			&cli.StringFlag{Name: "name", Value: "pushca-renew", Usage: "unit name, without .service or .timer"},
			&cli.StringFlag{Name: "out", Usage: "directory to write NAME.service and NAME.timer to (default: print them)"},
		},
		Action: func(c *cli.Context) error {
			units, err := renewUnits(c)
			if err != nil {
				return err
			}
			if out := c.String("out"); out != "" {
				for _, u := range units {
					p := filepath.Join(out, u.file)
					// 0644 like every unit systemd ships: no secret inside.
					if err := atomicfile.WriteFile(p, u.text, 0o644); err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, "wrote", p)
				}
				return nil
			}
			for i, u := range units {
				if i > 0 {
					fmt.Fprintln(c.App.Writer)
				}
				fmt.Fprintf(c.App.Writer, "### /etc/systemd/system/%s\n%s", u.file, u.text)
			}
			return nil
		},
	}
}

type unitFile struct {
	file string
	text []byte
}

// renewUnits renders the service and the timer.
func renewUnits(c *cli.Context) ([]unitFile, error) {
	pwFile := c.String("password-file")
	if pwFile == "" {
		return nil, errors.New("--password-file is required: the service renews unattended, with no terminal to prompt on")
	}
	if _, err := parseWithin(c.String("within")); err != nil {
		return nil, err
	}
	name := c.String("name")
	if name == "" || strings.ContainsAny(name, "/ \t\n@") {
		return nil, fmt.Errorf("--name %q: want a unit name like pushca-renew", name)
	}
	if strings.ContainsAny(c.String("on-calendar"), "\r\n") {
		return nil, errors.New("--on-calendar: one line")
	}
	bin, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the pushca binary: %w", err)
	}
	abs := func(flag string) (string, error) {
		p, err := filepath.Abs(c.String(flag))
		if err != nil {
			return "", fmt.Errorf("--%s %s: %w", flag, c.String(flag), err)
		}
		return p, nil
	}
	dir, err := abs("dir")
	if err != nil {
		return nil, err
	}
	if pwFile, err = abs("password-file"); err != nil {
		return nil, err
	}
	args := []string{bin, "cert", "renew", "--all", "--within", c.String("within")}
	if cmd := c.String("exec"); cmd != "" {
		args = append(args, "--exec", cmd)
	}
	var quoted []string
	for i, a := range append([]string{"PUSHCA_DIR=" + dir, "PUSHCA_PASSWORD_FILE=" + pwFile}, args...) {
		q, err := systemdQuote(a, i >= 2)
		if err != nil {
			return nil, err
		}
		quoted = append(quoted, q)
	}
	data := map[string]string{
		"Name": name, "Within": c.String("within"), "OnCalendar": c.String("on-calendar"),
		"DirEnv": quoted[0], "PasswordEnv": quoted[1], "ExecStart": strings.Join(quoted[2:], " "),
	}
	var units []unitFile
	for _, kind := range []string{"service", "timer"} {
		text, err := renderUnit("systemd/renew."+kind+".tpl", data)
		if err != nil {
			return nil, err
		}
		units = append(units, unitFile{name + "." + kind, text})
	}
	return units, nil
}

// systemdQuote makes s one word of an Environment= line, or of ExecStart=
// when exec is set: double quotes, backslash escapes and %% so that systemd
// expands no specifier; on ExecStart= also $$, since systemd would expand
// $PUSHCA_HOST there, and it is the hook's shell's to expand.
func systemdQuote(s string, exec bool) (string, error) {
	if strings.ContainsAny(s, "\x00\r\n") {
		return "", fmt.Errorf("%q: a systemd unit cannot hold a line break", s)
	}
	pairs := []string{`\`, `\\`, `"`, `\"`, "%", "%%"}
	if exec {
		pairs = append(pairs, "$", "$$")
	}
	return `"` + strings.NewReplacer(pairs...).Replace(s) + `"`, nil
}

func renderUnit(file string, data any) ([]byte, error) {
	src, err := templates.Read(file)
	if err != nil {
		return nil, err
	}
	t, err := template.New(file).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", file, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", file, err)
	}
	return b.Bytes(), nil
}
