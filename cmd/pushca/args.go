package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a command's flags in front of its positional
// arguments, and the global flags (--dir, --verbose) given after a command
// in front of the command. urfave/cli v2 stops reading flags at the first
// argument, so `pushca cert issue HOST --san X` would otherwise take --san
// as a second host; every example in the docs puts flags after the
// argument, and DESIGN.md promises global options before or after the
// command.
func interspersed(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	var global, out []string
	level, cmds, top := app.Flags, app.Commands, true
	rest := args[1:]
	// sort files one flag (and its value) as global or as the level's own:
	// below the top, an app flag the command does not define itself.
	sort := func(own *[]string, toks []string) {
		if !top && defines(app.Flags, toks[0]) && !defines(level, toks[0]) {
			global = append(global, toks...)
			return
		}
		*own = append(*own, toks...)
	}
	for len(rest) > 0 {
		// Leading flags of this level stay where they are.
		for len(rest) > 0 && isFlag(rest[0]) {
			n := flagLen(append(level, app.Flags...), rest)
			sort(&out, rest[:n])
			rest = rest[n:]
		}
		if len(rest) == 0 {
			return append(append([]string{args[0]}, global...), out...)
		}
		sub := findCommand(cmds, rest[0])
		if sub == nil {
			break
		}
		out = append(out, rest[0])
		rest = rest[1:]
		level, cmds, top = sub.Flags, sub.Subcommands, false
		if len(cmds) == 0 {
			break
		}
	}
	var fl, pos []string
	for len(rest) > 0 {
		a := rest[0]
		if a == "--" {
			pos = append(pos, rest...)
			break
		}
		if !isFlag(a) {
			pos, rest = append(pos, a), rest[1:]
			continue
		}
		n := flagLen(append(level, app.Flags...), rest)
		sort(&fl, rest[:n])
		rest = rest[n:]
	}
	return append(append(append(append([]string{args[0]}, global...), out...), fl...), pos...)
}

// flagLen is how many tokens the flag at the start of args takes: 2 when
// it consumes the next one as its value, else 1.
func flagLen(flags []cli.Flag, args []string) int {
	if takesValue(flags, args[0]) && len(args) > 1 {
		return 2
	}
	return 1
}

// defines reports whether flags has the flag a "--name" or "--name=value"
// token names.
func defines(flags []cli.Flag, tok string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(tok, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
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
