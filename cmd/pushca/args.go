package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a command's flags in front of its positional arguments.
// urfave/cli v2 stops reading flags at the first argument, so
// `pushca cert issue HOST --san X` would otherwise take --san as a second
// host; every example in the docs puts flags after the argument.
func interspersed(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	out := []string{args[0]}
	flags, cmds := app.Flags, app.Commands
	rest := args[1:]
	for len(rest) > 0 {
		// Leading flags of this level stay where they are.
		n := leadingFlags(flags, rest)
		out = append(out, rest[:n]...)
		rest = rest[n:]
		if len(rest) == 0 {
			return out
		}
		sub := findCommand(cmds, rest[0])
		if sub == nil {
			break
		}
		out = append(out, rest[0])
		rest = rest[1:]
		flags, cmds = sub.Flags, sub.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	var fl, pos []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i:]...)
			break
		}
		if !isFlag(a) {
			pos = append(pos, a)
			continue
		}
		fl = append(fl, a)
		if takesValue(flags, a) && i+1 < len(rest) {
			fl = append(fl, rest[i+1])
			i++
		}
	}
	return append(append(out, fl...), pos...)
}

// leadingFlags counts the tokens at the start of args that are flags of
// this level and their values.
func leadingFlags(flags []cli.Flag, args []string) int {
	i := 0
	for i < len(args) && isFlag(args[i]) {
		if takesValue(flags, args[i]) {
			i++
		}
		i++
	}
	if i > len(args) {
		i = len(args)
	}
	return i
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' && a != "--" }

// takesValue reports whether a "--name" token (without =value) consumes the
// next argument.
func takesValue(flags []cli.Flag, tok string) bool {
	if strings.Contains(tok, "=") {
		return false
	}
	name := strings.TrimLeft(tok, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
