package ca

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/nosql"
	"github.com/smallstep/nosql/database"
)

// gatedDB counts the transactions that reach bbolt and holds the first one
// until gate is closed, so that the test knows which writers queue behind it.
type gatedDB struct {
	nosql.DB
	gate, entered chan struct{}
	panicFirst    bool // the held transaction panics, as bbolt may
	mu            sync.Mutex
	updates       []int // operations per transaction
}

func (g *gatedDB) Update(tx *database.Tx) error {
	g.mu.Lock()
	g.updates = append(g.updates, len(tx.Operations))
	first := len(g.updates) == 1
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.gate
		if g.panicFirst {
			panic("bbolt: simulated")
		}
	}
	return g.DB.Update(tx)
}

func openTestDB(t *testing.T) nosql.DB {
	t.Helper()
	db, err := nosql.New(nosql.BBoltDriver, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateTable([]byte("t")); err != nil {
		t.Fatal(err)
	}
	return db
}

func setTx(table, key string) *database.Tx {
	tx := new(database.Tx)
	tx.Set([]byte(table), []byte(key), []byte("v"+key))
	return tx
}

// TestGroupCommitSharesOneTransaction: writers that arrive while a commit
// is running are committed together, in one transaction, by one of them.
func TestGroupCommitSharesOneTransaction(t *testing.T) {
	testGroupCommit(t, false)
}

// TestGroupCommitSurvivesAPanic: a commit that panics (and is recovered, as
// net/http does) still hands the next commit on; nobody waits for ever.
func TestGroupCommitSurvivesAPanic(t *testing.T) {
	testGroupCommit(t, true)
}

func testGroupCommit(t *testing.T, panicFirst bool) {
	inner := &gatedDB{DB: openTestDB(t), gate: make(chan struct{}), entered: make(chan struct{}), panicFirst: panicFirst}
	g := &groupCommit{DB: inner}
	const waiting = 15
	errs := make([]error, waiting+1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if p := recover(); (p != nil) != panicFirst {
				t.Errorf("first writer: panic %v", p)
			}
		}()
		errs[0] = g.Update(setTx("t", "k0"))
	}()
	<-inner.entered
	for i := 1; i <= waiting; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.Set([]byte("t"), []byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("vk", i)))
		}()
	}
	// Wait, bounded, until every writer has queued behind the held commit.
	for i := 0; ; i++ {
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		if n == waiting {
			break
		}
		if i == 10000 {
			t.Fatalf("%d of %d writers queued", n, waiting)
		}
		time.Sleep(time.Millisecond)
	}
	close(inner.gate)
	wg.Wait()
	for i, err := range errs {
		if i == 0 && panicFirst {
			continue
		}
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
		if v, err := inner.Get([]byte("t"), []byte(fmt.Sprint("k", i))); err != nil || string(v) != fmt.Sprint("vk", i) {
			t.Errorf("k%d = %q, %v", i, v, err)
		}
	}
	if fmt.Sprint(inner.updates) != fmt.Sprint([]int{1, waiting}) {
		t.Errorf("transactions (operations each) = %v, want [1 %d]", inner.updates, waiting)
	}
	if g.busy || len(g.queue) != 0 {
		t.Errorf("after the last writer: busy %v, %d queued", g.busy, len(g.queue))
	}
}

// TestGroupCommitFailsOnlyTheBadWriter: when the shared transaction fails,
// each writer's transaction runs alone, so one bad write fails only itself.
func TestGroupCommitFailsOnlyTheBadWriter(t *testing.T) {
	db := openTestDB(t)
	g := &groupCommit{DB: db}
	bad := setTx("t", "b")
	bad.Get([]byte("t"), []byte("never written")) // fails the transaction
	batch := []*commitReq{{tx: setTx("t", "a")}, {tx: bad}, {tx: setTx("t", "c")}}
	g.commit(batch)
	if batch[0].err != nil || batch[2].err != nil || !database.IsErrNotFound(batch[1].err) {
		t.Fatalf("errors %v, %v, %v; want only the failing transaction to fail", batch[0].err, batch[1].err, batch[2].err)
	}
	if _, err := db.Get([]byte("t"), []byte("b")); !database.IsErrNotFound(err) {
		t.Errorf("the failed transaction's write was kept: %v", err)
	}
	for _, k := range []string{"a", "c"} {
		if v, err := db.Get([]byte("t"), []byte(k)); err != nil || string(v) != "v"+k {
			t.Errorf("%s = %q, %v", k, v, err)
		}
	}
}
