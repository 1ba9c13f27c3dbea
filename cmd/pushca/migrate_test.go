package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/push"
)

// listRecords is `pushca cert list --json` of dir.
func listRecords(t *testing.T, dir string) []ca.Record {
	t.Helper()
	var recs []ca.Record
	if err := json.Unmarshal([]byte(mustPushca(t, nil, "--dir", dir, "cert", "list", "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

// PostgreSQL through the CLI: init records the database (given by
// PUSHCA_DB) for pushca and step-ca; a URL with a password, another --db
// than the recorded one, and an unreachable server are refused with what
// to do; ca migrate moves the CA to bbolt and back, refusing a database
// that holds a CA unless --force.
func TestDBInitAndMigrate(t *testing.T) {
	s := pgtest.Start(t)
	dsn := s.CreateDB(t, "cli")
	env := passwordEnv(t, "pw")
	dir := filepath.Join(t.TempDir(), "ca")

	r := runPushca(t, env, "--dir", dir, "init", "--host", "mail.example.com", "--profiles", "ios", "--db", strings.Replace(dsn, "pushca@", "pushca:hunter2@", 1))
	if r.code != 1 || !strings.Contains(r.stderr, "--db") || !strings.Contains(r.stderr, "PGPASSWORD") || strings.Contains(r.stderr+r.stdout, "hunter2") {
		t.Errorf("init with a password in the URL: exit %d, %q", r.code, r.stderr)
	}
	port := testtool.FreePort(t)
	r = runPushca(t, append(env, "PUSHCA_DB=postgresql://pushca@127.0.0.1:"+port+"/x"), "--dir", dir, "init", "--host", "mail.example.com", "--profiles", "ios")
	if r.code != 1 || !strings.Contains(r.stderr, "127.0.0.1:"+port) {
		t.Errorf("init against no server: exit %d, %q; want the server's address", r.code, r.stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a refused init left %s (%v)", dir, err)
	}

	mustPushca(t, append(env, "PUSHCA_DB="+dsn), "--dir", dir, "init", "--host", "mail.example.com", "--profiles", "ios")
	if got, _ := ca.RecordedDB(dir); got != dsn {
		t.Errorf("pushca.json records %q, want %s", got, dsn)
	}
	cfg := testtool.ReadFile(t, filepath.Join(dir, "config", "ca.json"))
	if !strings.Contains(string(cfg), `"type": "postgresql"`) || !strings.Contains(string(cfg), dsn) {
		t.Errorf("config/ca.json does not name the database:\n%s", cfg)
	}
	if recs := listRecords(t, dir); len(recs) != 1 || recs[0].Files == "" {
		t.Errorf("cert list: %+v, want the one certificate, with its directory", recs)
	}
	r = runPushca(t, nil, "--dir", dir, "--db", "bbolt", "cert", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "ca migrate --to bbolt") {
		t.Errorf("cert list --db bbolt on a PostgreSQL CA: exit %d, %q; want a pointer to ca migrate", r.code, r.stderr)
	}

	// serve's users follow the CA: alice is in the database's table now,
	// in the users file after the move to bbolt, and bob, added there,
	// in the table again after the move back.
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("a user's password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustPushca(t, nil, "--dir", dir, "users", "add", "alice", "--password-file", pw)
	out := mustPushca(t, nil, "--dir", dir, "ca", "migrate", "--to", "bbolt")
	if !strings.Contains(out, "pushca_certs") || !strings.Contains(out, "kept") || !strings.Contains(out, "1 users") {
		t.Errorf("migrate to bbolt said:\n%s", out)
	}
	if users := string(testtool.ReadFile(t, push.UsersPath(dir))); !strings.Contains(users, "\nalice:$2") {
		t.Errorf("users file after the move to bbolt: %q, want alice", users)
	}
	mustPushca(t, nil, "--dir", dir, "users", "add", "bob", "--password-file", pw)
	if recs := listRecords(t, dir); len(recs) != 1 {
		t.Errorf("after migrating to bbolt, cert list: %+v", recs)
	}
	r = runPushca(t, nil, "--dir", dir, "ca", "migrate", "--to", dsn)
	if r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("migrate back into the database that still holds the CA: exit %d, %q; want a refusal naming --force", r.code, r.stderr)
	}
	mustPushca(t, nil, "--dir", dir, "ca", "migrate", "--to", dsn, "--force")
	if users := mustPushca(t, nil, "--dir", dir, "users", "list"); !strings.Contains(users, "alice") || !strings.Contains(users, "bob") {
		t.Errorf("users in the database after the move back: %q, want alice and bob", users)
	}
	mustPushca(t, env, "--dir", dir, "cert", "issue", "second.example.com")
	mustPushca(t, nil, "--dir", dir, "ca", "check")
	kept, _ := filepath.Glob(filepath.Join(dir, "db", "pushca.db.migrated-*"))
	if len(kept) != 1 {
		t.Errorf("migrated-from bbolt files kept: %v, want 1", kept)
	}
}

// Two operators' processes (the real binary, each on its own copy of the
// state directory) issue the same hosts at the same moment, several
// rounds: exactly one of each pair succeeds and each host ends with
// exactly one active certificate per family. The database's advisory lock
// per host is what makes this so: each process's own lock is a mutex in
// its memory, and without the database's lock both would find no active
// certificate, both sign, and both record theirs as active (see
// TestPostgreSQLCA/advisory_lock in package ca, which removes the lock and
// sees exactly that).
func TestDBTwoProcessesIssueOneHost(t *testing.T) {
	s := pgtest.Start(t)
	dsn := s.CreateDB(t, "shared")
	env := passwordEnv(t, "pw")
	first := filepath.Join(t.TempDir(), "first")
	mustPushca(t, append(env, "PUSHCA_DB="+dsn), "--dir", first, "init", "--host", "init.example.com", "--profiles", "wm6,ios")
	second := filepath.Join(t.TempDir(), "second")
	testtool.MustRun(t, nil, "cp", "-a", first, second)

	const rounds = 4
	for round := range rounds {
		host := fmt.Sprintf("h%d.example.com", round)
		args := []string{"cert", "issue", host}
		if round == rounds-1 {
			// Forced: both succeed, one after the other, the second
			// superseding the first.
			args = []string{"cert", "issue", "h0.example.com", "--force"}
		}
		results := make([]result, 2)
		var wg sync.WaitGroup
		for i, dir := range []string{first, second} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = runPushca(t, env, append([]string{"--dir", dir}, args...)...)
			}()
		}
		wg.Wait()
		ok := 0
		for _, r := range results {
			switch {
			case r.code == 0:
				ok++
			case !strings.Contains(r.stderr, "already has an active certificate"):
				t.Errorf("round %d: exit %d: %s", round, r.code, r.stderr)
			}
		}
		if want := map[bool]int{true: 2, false: 1}[round == rounds-1]; ok != want {
			t.Errorf("round %d (%v): %d processes succeeded, want %d", round, args, ok, want)
		}
	}
	active := map[string]int{}
	for _, r := range listRecords(t, first) {
		if r.State == ca.StateActive {
			active[r.Host+" "+r.Family]++
		}
	}
	if len(active) != 2*rounds { // init.example.com and h0..h2, two families each
		t.Errorf("active certificates by host and family: %v", active)
	}
	for k, n := range active {
		if n != 1 {
			t.Errorf("%s has %d active certificates, want 1", k, n)
		}
	}
	for _, dir := range []string{first, second} {
		mustPushca(t, nil, "--dir", dir, "ca", "check")
	}
}
