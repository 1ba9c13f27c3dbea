package main

import (
	"fmt"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
)

func caMigrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "move the CA's database (step-ca's tables and the inventory) to PostgreSQL, or back to bbolt (no CA password needed)",
		UsageText: `pushca ca migrate --to postgresql://pushca@db.example.com:5432/pushca
   pushca --dir /etc/pushca ca migrate --to bbolt`,
		Description: `Copies every table from the database the CA is on to the one --to names, in
one consistent read, checks each table's row count in the target, then
switches pushca.json and config/ca*.json (so step-ca too) to the target.

--to postgresql://USER@HOST:PORT/DATABASE (or postgres://): a PostgreSQL
database, made if it does not exist. The URL carries no password: pushca and
step-ca read it from ~/.pgpass, the file PGPASSFILE names, or PGPASSWORD.
Other operators then copy this state directory (it keeps the URL) to issue
against the same database. --to bbolt: the file db/pushca.db.

A target that already holds a CA's tables is refused unless --force, which
replaces their rows (an existing db/pushca.db is moved aside). The source is
never deleted: a bbolt file is kept as db/pushca.db.migrated-TIME, PostgreSQL
tables stay as they are. Stop pushca serve first; on PostgreSQL, have the
other operators stop issuing meanwhile (what they write after the copy's read
is not copied). An interrupted migration leaves the CA on its old database.

pushca serve's users and device records follow the CA, since serve keeps them
where the CA's database is: the users file and push/devices.db beside bbolt,
tables beside PostgreSQL. They are copied first (a user the target already has
with another password stops the migration unless --force) and left in place
at the source.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "to", Required: true, Usage: "target database: postgresql://USER@HOST:PORT/DATABASE or bbolt"},
			&cli.BoolFlag{Name: "force", Usage: "replace the CA tables a target already holds"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("ca migrate takes no arguments; name the target with --to")
			}
			to, err := ca.CheckDSN(c.String("to"))
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			dir := c.String("dir")
			from, err := ca.RecordedDB(dir)
			if err != nil {
				return err
			}
			if from == to {
				return usageErrorf("--to: the CA in %s is on that database already", dir)
			}
			// serve's users and devices first: a copy that fails leaves
			// the CA where it was, and one repeated copies the same again.
			moved, err := migratePush(c, dir, from, to, c.Bool("force"))
			if err != nil {
				return fmt.Errorf("nothing moved: %w", err)
			}
			m, err := ca.Migrate(c.Context, dir, c.String("to"), c.Bool("force"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, struct {
					ca.Migration
					Push movedPush `json:"push"`
				}{m, moved})
			}
			w := c.App.Writer
			fmt.Fprintf(w, "moved the CA in %s from %s to %s\n", c.String("dir"), m.From, m.To)
			tables := make([]string, 0, len(m.Rows))
			for t := range m.Rows {
				tables = append(tables, t)
			}
			sort.Strings(tables)
			for _, t := range tables {
				fmt.Fprintf(w, "  %-24s %d rows\n", t, m.Rows[t])
			}
			fmt.Fprintf(w, "  pushca serve's users and device records: %d users, %d devices copied\n", moved.Users, moved.Devices)
			fmt.Fprintf(w, "the old database is kept: %s\n", m.Kept)
			return nil
		},
	}
}
