package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// pushcaBin is the binary built once for the end-to-end tests: they run
// what users run.
var pushcaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pushca-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pushcaBin = filepath.Join(dir, "pushca")
	build := exec.Command("go", "build", "-o", pushcaBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pushca:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// runPushca runs the binary in its own session (no controlling terminal,
// as under cron or CI), bounded to two minutes.
func runPushca(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pushcaBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run pushca %v: %v", args, err)
	}
	return result{o.String(), e.String(), code}
}

// mustPushca runs the binary and fails the test on a non-zero exit.
func mustPushca(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := runPushca(t, env, args...)
	if r.code != 0 {
		t.Fatalf("pushca %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// passwordEnv writes a password file and returns the environment naming it.
func passwordEnv(t *testing.T, pw string) []string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"PUSHCA_PASSWORD_FILE=" + f}
}

// Every command a user can reach has --help text with an example.
func TestEveryCommandHasExample(t *testing.T) {
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			name := prefix + " " + c.Name
			if len(c.Subcommands) > 0 {
				walk(name, c.Subcommands)
				continue
			}
			if !strings.Contains(c.UsageText, "pushca ") {
				t.Errorf("%s: --help has no example (UsageText)", name)
			}
		}
	}
	walk("pushca", newApp().Commands)
}

func TestInterspersedFlags(t *testing.T) {
	app := newApp()
	for in, want := range map[string]string{
		"pushca --dir d cert issue mail.example.com --san a.example.com --json --days 3 -- --odd": "pushca --dir d cert issue --san a.example.com --json --days 3 mail.example.com -- --odd",
		// Global flags after the command, as DESIGN.md promises.
		"pushca cert issue mail.example.com --dir d --san a.example.com --verbose": "pushca --dir d --verbose cert issue --san a.example.com mail.example.com",
		"pushca cert --dir=d list --json":                                          "pushca --dir=d cert list --json",
		"pushca ca add-family modern --host h --dir d":                             "pushca --dir d ca add-family --host h modern",
		"pushca --verbose profiles --dir d":                                        "pushca --dir d --verbose profiles",
		"pushca serve --host h --dir d --profile wm5":                              "pushca --dir d serve --host h --profile wm5",
		"pushca verify https://h --dir d -- --dir":                                 "pushca --dir d verify https://h -- --dir",
	} {
		if got := strings.Join(interspersed(app, strings.Fields(in)), " "); got != want {
			t.Errorf("%s\ngot  %q\nwant %q", in, got, want)
		}
	}
}

// A typo in a cron job (`pushca cert stauts`) is a usage error with a code
// of its own, never 3, which cert status uses for "expiring soon", and the
// message names what exists.
func TestUsageErrorsHaveTheirOwnExitCode(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cert", "stauts"}, `unknown command "stauts" for pushca cert (it has issue, renew`},
		{[]string{"bogus"}, `unknown command "bogus" for pushca (it has quickstart`},
		{[]string{"ca", "crl", "--nope"}, "flag provided but not defined: -nope (see pushca ca crl --help)"},
		{[]string{"--nope", "cert", "list"}, "flag provided but not defined: -nope (see pushca --help)"},
		{[]string{"cert", "issue"}, "cert issue needs exactly one HOST argument"},
	} {
		r := runPushca(t, nil, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") > 1 {
			t.Errorf("pushca %v: exit %d, stderr %q; want %d and %q in one line", tc.args, r.code, r.stderr, exitUsage, tc.want)
		}
	}
	if r := runPushca(t, nil, "cert"); r.code != 0 || !strings.Contains(r.stdout, "COMMANDS") {
		t.Errorf("pushca cert alone: exit %d, want its help\n%s", r.code, r.stdout)
	}
}

// Help lines as a stranger reads them: no "(default: 0)" after a default the
// usage already gives, no repeatable flag printed twice.
func TestHelpShowsDefaultsOnceAndFlagsOnce(t *testing.T) {
	for _, args := range [][]string{{"init", "--help"}, {"cert", "issue", "--help"}, {"ca", "rotate-intermediate", "--help"}, {"quickstart", "--help"}} {
		out := mustPushca(t, nil, args...)
		for _, bad := range []string{"(default: 0)", " [ --"} {
			if strings.Contains(out, bad) {
				t.Errorf("pushca %v shows %q:\n%s", args, bad, out)
			}
		}
		if twice := regexp.MustCompile(`\(default [^)]*\) \(default:`).FindString(out); twice != "" {
			t.Errorf("pushca %v gives a default twice: %q", args, twice)
		}
		if !strings.Contains(out, "--days value") && args[0] != "quickstart" {
			t.Errorf("pushca %v lists no --days:\n%s", args, out)
		}
	}
	if out := mustPushca(t, nil, "init", "--help"); !strings.Contains(out, "(default: 397, capped by each family)") {
		t.Errorf("init --help does not give the --days default:\n%s", out)
	}
}

// urfave/cli shows a backquoted word in a flag's usage as its value's name
// (`--profiles pushca ca add-family`): no flag's usage has one.
func TestNoFlagUsageHasBackquotes(t *testing.T) {
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				if d, ok := f.(cli.DocGenerationFlag); ok && strings.Contains(d.GetUsage(), "`") {
					t.Errorf("%s %s --%s: usage %q has a backquote", path, c.Name, f.Names()[0], d.GetUsage())
				}
			}
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	walk("pushca", newApp().Commands)
}
