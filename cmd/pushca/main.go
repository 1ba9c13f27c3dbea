package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	cli.FlagStringer = flagString(cli.FlagStringer)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pushca: %v\n", err)
		os.Exit(exitCode(err))
	}
}

// flagString is urfave/cli's help line of a flag without the repetition it
// appends to repeatable ones ("--profiles value, --profile value [ --profiles
// value, --profile value ]"): their usage says "repeatable".
func flagString(std cli.FlagStringFunc) cli.FlagStringFunc {
	return func(f cli.Flag) string {
		s := std(f)
		names, usage, ok := strings.Cut(s, "\t")
		if i := strings.Index(names, " [ "); ok && i >= 0 {
			return names[:i] + "\t" + usage
		}
		return s
	}
}

// exitCode is 1 for every failure but those a command gives a code of its
// own (exitf: cert status 3, verify 2 and 3), which scripts read. urfave/cli
// exits 3 for an unknown command, which would pass for "expiring" in cron.
func exitCode(err error) int {
	var ec *exitError
	if errors.As(err, &ec) {
		return ec.code
	}
	return 1
}

func newApp() *cli.App {
	app := &cli.App{
		Name:    "pushca",
		Usage:   "private CA, device packages and a test endpoint for Exchange ActiveSync DirectPush",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "dir",
				Usage:   "state directory (CA, certificates, inventory)",
				EnvVars: []string{"PUSHCA_DIR"},
				Value:   "./pushca-data",
			},
			&cli.StringFlag{
				Name:    "db",
				Usage:   "the CA's database for init: postgresql://USER@HOST:PORT/DATABASE, shared by several operators (password in ~/.pgpass or PGPASSWORD, never in the URL), or bbolt (default: db/pushca.db in --dir); later commands read it from --dir and refuse a different one (see pushca ca migrate)",
				EnvVars: []string{"PUSHCA_DB"},
			},
			&cli.BoolFlag{Name: "verbose", Usage: "debug logging on stderr"},
		},
		Commands: []*cli.Command{
			quickstartCommand(),
			initCommand(),
			certCommand(),
			caCommand(),
			packageCommand(),
			bundleCommand(),
			qrCommand(),
			usersCommand(),
			serveCommand(),
			acmeCommand(),
			pushCommand(),
			verifyCommand(),
			loadCommand(),
			profilesCommand(),
		},
		// Errors are printed once, by main.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
	}
	// urfave/cli exits 3 on an unknown command (cert status's "expiring").
	app.Action = unknownCommand("pushca", app.Commands)
	for _, cmd := range app.Commands {
		strictUsage(cmd, "pushca "+cmd.Name)
	}
	return app
}

// strictUsage makes a bad flag, and an unknown subcommand, a usage error of
// the command named path, recursively.
func strictUsage(cmd *cli.Command, path string) {
	cmd.OnUsageError = onUsageError
	if len(cmd.Subcommands) == 0 {
		return
	}
	for _, sub := range cmd.Subcommands {
		strictUsage(sub, path+" "+sub.Name)
	}
	if cmd.Action == nil {
		cmd.Action = unknownCommand(path, cmd.Subcommands)
	}
}

// unknownCommand is the action of a command that only has subcommands:
// help without arguments, a usage error naming the choices otherwise.
func unknownCommand(path string, cmds []*cli.Command) cli.ActionFunc {
	var names []string
	for _, c := range cmds {
		names = append(names, c.Name)
	}
	return func(c *cli.Context) error {
		if c.NArg() == 0 {
			return cli.ShowSubcommandHelp(c)
		}
		return usageErrorf("unknown command %q for %s (it has %s; see %s --help)", c.Args().First(), path, strings.Join(names, ", "), path)
	}
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	return usageErrorf("%v (see %s --help)", err, c.Command.HelpName)
}
