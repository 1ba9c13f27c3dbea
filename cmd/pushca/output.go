package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"
)

// jsonFlag is shared by every command whose output is data.
var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON"}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// logger writes to stderr; --verbose shows debug lines.
func logger(c *cli.Context) *slog.Logger {
	lvl := slog.LevelInfo
	if c.Bool("verbose") {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr(c), &slog.HandlerOptions{Level: lvl}))
}

// exitf is an error with its own exit code, for commands (like cert status)
// whose non-zero exit carries meaning for cron.
func exitf(code int, format string, args ...any) error {
	return &exitError{code, fmt.Sprintf(format, args...)}
}

// Exit codes, in one place (README.md "Exit codes" repeats them): 0
// success; 1 any failure; 2 and 3 verdicts of verify (warnings, failures)
// and 3 of cert status (something expires soon); exitUsage for a command
// line pushca cannot run (an unknown command or flag, a missing argument),
// so that a typo in a cron job is never taken for a verdict.
const exitUsage = 64 // EX_USAGE of sysexits(3)

// usageErrorf is a usage error: exit code exitUsage.
func usageErrorf(format string, args ...any) error {
	return exitf(exitUsage, format, args...)
}

// exitError is a failure with an exit code that means something.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func stderr(c *cli.Context) io.Writer {
	if c.App.ErrWriter != nil {
		return c.App.ErrWriter
	}
	return os.Stderr
}
