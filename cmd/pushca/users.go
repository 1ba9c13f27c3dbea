package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/pgstate"
	"github.com/pushca/pushca/push/state"
)

func usersCommand() *cli.Command {
	return &cli.Command{
		Name:  "users",
		Usage: "manage the accounts devices log in with (bcrypt hashes in the state directory's push/users, or in the CA's PostgreSQL database)",
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
					users, done, err := openUsers(c)
					if err != nil {
						return err
					}
					defer done()
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
					users, done, err := openUsers(c)
					if err != nil {
						return err
					}
					defer done()
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
					users, done, err := openUsers(c)
					if err != nil {
						return err
					}
					defer done()
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
	name, err = state.NormalizeUser(login)
	return login, name, err
}

// pushDB is the PostgreSQL database where serve keeps the push endpoint's
// users, devices and mailbox: the CA's, as --dir's pushca.json records it
// (a --db must name the same), or beside no CA the --db given. "" keeps
// them in --dir: the users file and bbolt.
func pushDB(c *cli.Context) (string, error) {
	if err := checkDBFlag(c); err != nil {
		return "", err
	}
	dsn, err := ca.RecordedDB(c.String("dir"))
	if errors.Is(err, ca.ErrNotInitialized) {
		dsn, _, err = dbFlag(c)
	}
	return dsn, err
}

// pgConnectTimeout bounds a connection to the users' database, so that an
// unreachable server fails in seconds.
const pgConnectTimeout = 10 * time.Second

// openUsers opens the users where serve keeps them (see pushDB); done
// closes what it opened.
func openUsers(c *cli.Context) (users *push.Users, done func(), err error) {
	dsn, err := pushDB(c)
	if err != nil {
		return nil, nil, err
	}
	if dsn == "" {
		users, err := push.OpenUsers(push.UsersPath(c.String("dir")), 0)
		return users, func() {}, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("users' database: %w", err)
	}
	cfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	cfg.ConnConfig.RuntimeParams["application_name"] = "pushca-users"
	pool, err := pgxpool.NewWithConfig(c.Context, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("users' database: %w", err)
	}
	src, err := pgstate.OpenUsers(c.Context, pool)
	if err == nil {
		users, err = push.NewUsers(src, 0, logger(c))
	}
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("users in %s: %w", dsn, err)
	}
	return users, pool.Close, nil
}
