package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
)

// deployFlags are renew's and rotate's deploy-hook flags; renew also
// renews everything that expires soon (for cron and systemd timers).
func deployFlags(all bool) []cli.Flag {
	flags := []cli.Flag{&cli.StringFlag{Name: "exec", Usage: "deploy hook: shell command run after each certificate written, once per host and family, with PUSHCA_HOST, PUSHCA_FAMILY, PUSHCA_SERIAL, PUSHCA_CERT, PUSHCA_CHAIN, PUSHCA_KEY, PUSHCA_ROOT and PUSHCA_DIR set"}}
	if all {
		flags = append(flags,
			&cli.BoolFlag{Name: "all", Usage: "renew every host with an active certificate expiring within --within, instead of HOST"},
			&cli.StringFlag{Name: "within", Value: "30d", Usage: "with --all: days (30d) or a Go duration (720h)"})
	}
	return flags
}

// reissueFunc renews or rotates host's certificates in the families named
// (every family the host has when none is).
type reissueFunc func(c *cli.Context, authority *ca.CA, host string, families []string) ([]*ca.Issued, error)

// withDeploy is the action of cert renew and cert rotate: it reissues for
// HOST (or, with --all, for every host with a certificate expiring within
// --within), prints what was written, closes the CA and then runs the
// deploy hook for each certificate written. The CA is closed first so that
// a hook can run pushca itself (cert export, cert list). A failed hook
// leaves the new certificate in place and exits with the hook's code.
func withDeploy(name string, fn reissueFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		all := c.Bool("all")
		switch {
		case all && c.NArg() > 0:
			return fmt.Errorf("cert %s --all renews every host expiring within --within: give no HOST", name)
		case !all && c.IsSet("within"):
			return fmt.Errorf("--within goes with --all")
		case !all && c.NArg() != 1:
			return usageErrorf("cert %s needs exactly one HOST argument, or --all (see --help)", name)
		}
		authority, err := openCA(c)
		if err != nil {
			return err
		}
		var issued []*ca.Issued
		if all {
			issued, err = renewExpiring(c, authority, fn)
		} else {
			issued, err = fn(c, authority, c.Args().First(), c.StringSlice("family"))
		}
		authority.Close()
		if perr := printIssued(c, issued); perr != nil {
			return perr
		}
		return errors.Join(err, runDeployHooks(c, issued))
	}
}

// renewExpiring reissues, host by host, the active certificates that expire
// within --within (in the families of --family, when given). A host that
// fails does not stop the others.
func renewExpiring(c *cli.Context, authority *ca.CA, fn reissueFunc) ([]*ca.Issued, error) {
	within, err := parseWithin(c.String("within"))
	if err != nil {
		return nil, err
	}
	recs, err := authority.Expiring(c.Context, time.Now(), within)
	if err != nil {
		return nil, err
	}
	only := c.StringSlice("family")
	var hosts []string
	families := map[string][]string{}
	for _, r := range recs {
		if len(only) > 0 && !slices.Contains(only, r.Family) {
			continue
		}
		if _, ok := families[r.Host]; !ok {
			hosts = append(hosts, r.Host)
		}
		families[r.Host] = append(families[r.Host], r.Family)
	}
	if len(hosts) == 0 && !c.Bool("json") {
		fmt.Fprintf(c.App.Writer, "no active certificate expires within %s\n", c.String("within"))
	}
	var out []*ca.Issued
	var errs []error
	for _, h := range hosts {
		is, err := fn(c, authority, h, families[h])
		out = append(out, is...)
		if err != nil {
			errs = append(errs, fmt.Errorf("renew %s: %w", h, err))
		}
	}
	return out, errors.Join(errs...)
}

// runDeployHooks runs --exec once per certificate written, in the order
// written, every one even after a failure: each host's server needs its
// own. The first failure's exit code becomes pushca's.
func runDeployHooks(c *cli.Context, issued []*ca.Issued) error {
	cmd := c.String("exec")
	if cmd == "" || len(issued) == 0 {
		return nil
	}
	dir, err := filepath.Abs(c.String("dir"))
	if err != nil {
		return fmt.Errorf("--dir %s: %w", c.String("dir"), err)
	}
	var errs []error
	for _, is := range issued {
		r := is.Record
		env := []string{
			"PUSHCA_HOST=" + r.Host, "PUSHCA_FAMILY=" + r.Family, "PUSHCA_SERIAL=" + r.Serial,
			"PUSHCA_CERT=" + is.CertFile, "PUSHCA_CHAIN=" + is.ChainFile, "PUSHCA_KEY=" + is.KeyFile,
			"PUSHCA_ROOT=" + ca.Layout{Dir: dir}.RootCert(), "PUSHCA_DIR=" + dir,
		}
		what := fmt.Sprintf("deploy hook for %s (%s family)", r.Host, r.Family)
		code, err := runHook(c.Context, cmd, env, stderr(c))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w; the new certificate stays in place", what, err))
		case code != 0:
			errs = append(errs, exitf(code, "%s exited with code %d; the new certificate stays in place", what, code))
		default:
			fmt.Fprintf(stderr(c), "pushca: %s done\n", what)
		}
	}
	return errors.Join(errs...)
}

// runHook runs cmd with /bin/sh -c, as certbot runs its deploy hooks, with
// env added to pushca's environment. Its output goes to out (stderr), so
// that --json on stdout stays parseable. The exit code of a hook killed by
// a signal is 128+signal, as the shell reports it.
func runHook(ctx context.Context, cmd string, env []string, out io.Writer) (int, error) {
	h := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	h.Env = append(os.Environ(), env...)
	h.Stdout, h.Stderr = out, out
	// On Ctrl-C or SIGTERM to pushca, ask the hook to stop before killing it.
	h.Cancel = func() error { return h.Process.Signal(syscall.SIGTERM) }
	h.WaitDelay = 10 * time.Second
	err := h.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("run /bin/sh -c: %w", err)
	}
	return 0, nil
}
