package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/push"
)

func usersCommand() *cli.Command {
	return &cli.Command{
		Name:  "users",
		Usage: "manage the accounts devices log in with (bcrypt hashes in the state directory, push/users)",
		UsageText: `pushca users add alice
   pushca users add 'CORP\bob' --password-file bob.pw
   pushca users list --json
   pushca users remove alice`,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a user or change a password (prompted without echo, or read from --password-file)",
				ArgsUsage: "NAME",
				UsageText: `pushca users add alice
   pushca users add alice@corp.example --password-file alice.pw   # stored as "alice"

   Logins keep no domain: CORP\alice, alice@corp.example and alice@other.example
   all log in as alice. A name with a domain therefore adds a user but never
   changes an existing one's password (it may be another person of the same
   name); the bare name does.`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "password-file", Usage: "file holding the password (first line); without it pushca prompts"},
				},
				Action: func(c *cli.Context) error {
					login, name, err := oneUser(c)
					if err != nil {
						return err
					}
					pw, err := readPassword(c, "password for "+name, true)
					if err != nil {
						return err
					}
					users, err := push.OpenUsers(push.UsersPath(c.String("dir")), 0)
					if err != nil {
						return err
					}
					if err := users.Add(login, string(pw)); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "user %s saved\n", name)
					return nil
				},
			},
			{
				Name:      "remove",
				Usage:     "remove a user",
				ArgsUsage: "NAME",
				UsageText: `pushca users remove alice`,
				Action: func(c *cli.Context) error {
					login, name, err := oneUser(c)
					if err != nil {
						return err
					}
					users, err := push.OpenUsers(push.UsersPath(c.String("dir")), 0)
					if err != nil {
						return err
					}
					if err := users.Remove(login); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "user %s removed\n", name)
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list the user names",
				UsageText: `pushca users list
   pushca users list --json`,
				Flags: []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					users, err := push.OpenUsers(push.UsersPath(c.String("dir")), 0)
					if err != nil {
						return err
					}
					names, err := users.List()
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, names)
					}
					for _, n := range names {
						fmt.Fprintln(c.App.Writer, n)
					}
					return nil
				},
			},
		},
	}
}

// oneUser returns the single NAME argument as typed, for push.Users to
// tell a name with a domain from a bare one, and in its stored form.
func oneUser(c *cli.Context) (login, name string, err error) {
	if c.NArg() != 1 {
		return "", "", usageErrorf("%s needs exactly one user name (see --help)", c.Command.Name)
	}
	login = c.Args().First()
	name, err = push.NormalizeUser(login)
	return login, name, err
}
