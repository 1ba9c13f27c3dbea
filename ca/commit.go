package ca

import (
	"errors"
	"sync"

	"github.com/smallstep/nosql"
	"github.com/smallstep/nosql/database"
)

// groupCommit lets concurrent writers share one transaction: on bbolt one
// pair of fdatasyncs, which cost more than the writes themselves; on
// PostgreSQL one commit (one WAL flush) and one round trip of BEGIN/COMMIT. It
// wraps the database that both step-ca (storing each signed certificate)
// and the inventory write through.
//
// There is no timer: the first writer commits at once; writers that arrive
// while a commit is on disk queue up, and when it is done the first of them
// commits the whole queue. A lone writer waits for nothing, and bbolt's own
// DB.Batch (which waits up to 10 ms for company) is not reachable through
// smallstep's wrapper anyway.
type groupCommit struct {
	nosql.DB
	mu    sync.Mutex
	queue []*commitReq
	busy  bool // a commit is running or about to
}

type commitReq struct {
	tx  *database.Tx
	err error
	// turn says true when this writer must commit the queue, false when
	// another writer committed its transaction (err is then set).
	turn chan bool
}

func (g *groupCommit) Update(tx *database.Tx) error {
	r := &commitReq{tx: tx, turn: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	if !lead && !<-r.turn {
		return r.err
	}
	g.mu.Lock()
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()
	for _, o := range batch {
		o.err = errCommitAborted // until commit says otherwise
	}
	// Deferred, so that a panic in bbolt (net/http recovers handlers'
	// panics) cannot leave the other writers waiting for ever.
	defer g.handOff(batch, r)
	g.commit(batch)
	return r.err
}

var errCommitAborted = errors.New("database: the shared commit was aborted")

// handOff tells the writers of batch that their commit is done and hands
// the next commit to the first queued writer, rather than making the
// leader commit for others for as long as they keep coming.
func (g *groupCommit) handOff(batch []*commitReq, leader *commitReq) {
	for _, o := range batch {
		if o != leader {
			o.turn <- false
		}
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].turn <- true
	} else {
		g.busy = false
	}
	g.mu.Unlock()
}

// Set is step-ca's write of one value (revocations, single certificates).
func (g *groupCommit) Set(bucket, key, value []byte) error {
	tx := new(database.Tx)
	tx.Set(bucket, key, value)
	return g.Update(tx)
}

// commit runs the transactions of batch as one. If that fails, each runs
// alone, so one writer's error (a compare-and-swap that lost, say) fails
// only that writer.
func (g *groupCommit) commit(batch []*commitReq) {
	if len(batch) == 1 {
		batch[0].err = g.DB.Update(batch[0].tx)
		return
	}
	all := new(database.Tx)
	for _, r := range batch {
		all.Operations = append(all.Operations, r.tx.Operations...)
	}
	if g.DB.Update(all) == nil {
		for _, r := range batch {
			r.err = nil
		}
		return
	}
	for _, r := range batch {
		r.err = g.DB.Update(r.tx)
	}
}
