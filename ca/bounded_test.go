package ca

import (
	"sync"
	"testing"

	"github.com/smallstep/nosql"
)

// countingDB records how many Gets run at once; each waits for release.
type countingDB struct {
	nosql.DB
	mu        sync.Mutex
	now, most int
	entered   chan struct{}
	release   chan struct{}
}

func (d *countingDB) Get(bucket, key []byte) ([]byte, error) {
	d.mu.Lock()
	d.now++
	d.most = max(d.most, d.now)
	d.mu.Unlock()
	d.entered <- struct{}{}
	<-d.release
	d.mu.Lock()
	d.now--
	d.mu.Unlock()
	return nil, nil
}

func TestBoundedDBAdmitsAtMostItsSlots(t *testing.T) {
	const callers = 6
	inner := &countingDB{entered: make(chan struct{}, callers), release: make(chan struct{})}
	b := newBoundedDB(inner, pgCalls)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.Get(nil, nil)
		}()
	}
	for range callers {
		<-inner.entered
		inner.release <- struct{}{}
	}
	wg.Wait()
	if inner.most > pgCalls {
		t.Errorf("%d calls ran at once, want at most %d", inner.most, pgCalls)
	}
}
