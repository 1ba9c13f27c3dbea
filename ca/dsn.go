package ca

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/smallstep/certificates/db"
)

// BoltDB names the embedded database, the file db/pushca.db of the state
// directory, where a database URL is expected (`ca migrate --to bbolt`).
const BoltDB = "bbolt"

// CheckDSN checks where a CA's database is to be: "" or "bbolt" for the
// embedded bbolt file, or a PostgreSQL URL (postgresql://USER@HOST:PORT/DB
// or postgres://...). It returns the form recorded in pushca.json: "" for
// bbolt, the URL as given otherwise. A URL that carries a password is
// refused: pushca.json, config/ca*.json, backups and logs would all hold it;
// pgx (pushca's driver and step-ca's) reads the password from ~/.pgpass,
// PGPASSFILE or PGPASSWORD instead.
func CheckDSN(dsn string) (string, error) {
	if dsn == "" || dsn == BoltDB {
		return "", nil
	}
	scheme, _, ok := strings.Cut(dsn, "://")
	if !ok || scheme != "postgresql" && scheme != "postgres" {
		return "", fmt.Errorf("database %q: want %s or a URL postgresql://USER@HOST:PORT/DATABASE", redactDSN(dsn), BoltDB)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Error quotes the input, which may hold a password.
		return "", fmt.Errorf("database %s: not a valid URL", redactDSN(dsn))
	}
	if _, has := u.User.Password(); has || u.Query().Has("password") {
		return "", fmt.Errorf("database %s: the URL carries a password, which would be written to pushca.json, config/ca*.json and every backup; remove it and put it in ~/.pgpass, in a file named by PGPASSFILE, or in PGPASSWORD (pushca and step-ca read them)", redactDSN(dsn))
	}
	if strings.Trim(u.Path, "/") == "" {
		return "", fmt.Errorf("database %s: name the database after the host (postgresql://USER@HOST:PORT/DATABASE)", dsn)
	}
	return dsn, nil
}

// redactDSN hides a password a URL may carry, so that no error prints it.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		// Unparseable: keep the scheme only, the rest may be a password.
		scheme, _, _ := strings.Cut(dsn, "://")
		return scheme + "://…"
	}
	if u.Query().Has("password") {
		q := u.Query()
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// pgServer is the host:port a PostgreSQL URL connects to, for errors.
func pgServer(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "the default PostgreSQL server"
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5432")
	}
	return u.Host
}

// withParams adds connection parameters to a PostgreSQL URL where it sets
// none of its own: what pushca needs of a connection (a bounded connect,
// read-only transactions) without changing the URL recorded for step-ca.
func withParams(dsn string, params map[string]string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // CheckDSN parsed it; unreachable
	}
	q := u.Query()
	for k, v := range params {
		if !q.Has(k) {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// connectTimeout bounds a connection to the server: an unreachable host
// fails in seconds, not after the system's TCP timeout.
const connectTimeout = "10"

// dbConfig is the database of a state directory as step-ca's configuration
// names it.
func dbConfig(l Layout, st State) *db.Config {
	if st.DB == "" {
		return &db.Config{Type: BoltDB, DataSource: l.DB()}
	}
	return &db.Config{Type: "postgresql", DataSource: st.DB}
}

// Database says where the CA's database is, as errors and output name it:
// the bbolt file, or the PostgreSQL URL.
func (r *Reader) Database() string { return r.layout.database() }

// Database says where the CA's database is (see Reader.Database).
func (c *CA) Database() string { return c.layout.database() }

// RecordedDB returns the database URL pushca.json of dir records, "" for
// the bbolt file: the CLI compares it with --db.
func RecordedDB(dir string) (string, error) {
	st, err := readState(Layout{Dir: dir})
	if err != nil {
		return "", err
	}
	return st.DB, nil
}

// errUnreachable wraps a failure to connect to a PostgreSQL server with
// where it is.
func errUnreachable(dsn string, err error) error {
	return fmt.Errorf("database %s: cannot connect to the PostgreSQL server at %s (is it running and reachable, and the password in ~/.pgpass, PGPASSFILE or PGPASSWORD?): %w", redactDSN(dsn), pgServer(dsn), err)
}
