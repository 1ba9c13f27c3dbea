package state

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

// never is a delay no test reaches.
const never = time.Hour

// writer runs writeBehind with the delays given and counts its flushes.
type writer struct {
	kick, stop chan struct{}
	flushes    atomic.Int64
	done       chan error
}

func startWriter(t *testing.T, quiet, most time.Duration) *writer {
	w := &writer{kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		w.done <- writeBehind(w.kick, w.stop, func() error { w.flushes.Add(1); return nil }, testtool.Log(t), quiet, most)
	}()
	t.Cleanup(func() {
		select {
		case <-w.stop:
		default:
			close(w.stop)
		}
		<-w.done
	})
	return w
}

func (w *writer) note() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Notes that keep coming are not written while they come: a store that
// wrote quiet after the first note would write ten times in this stream,
// this one at most once per stall of the noting goroutine longer than
// quiet. Stop writes the rest, once.
func TestWriteBehindWaitsForTheLull(t *testing.T) {
	const quiet = 100 * time.Millisecond
	w := startWriter(t, quiet, never)
	for end := time.Now().Add(10 * quiet); time.Now().Before(end); {
		w.note()
		time.Sleep(time.Millisecond)
	}
	during := w.flushes.Load()
	if during >= 5 {
		t.Fatalf("%d flushes while notes kept coming, want fewer than 5", during)
	}
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
	w.done <- nil // for the cleanup
	if n := w.flushes.Load() - during; n > 1 {
		t.Fatalf("%d flushes at stop, want at most 1", n)
	}
}

// A lull writes what was noted.
func TestWriteBehindWritesAfterTheLull(t *testing.T) {
	w := startWriter(t, 10*time.Millisecond, never)
	w.note()
	testtool.WaitFor(t, func() bool { return w.flushes.Load() == 1 })
}

// A stream of notes without a lull is written at the limit.
func TestWriteBehindWritesAtTheLimit(t *testing.T) {
	w := startWriter(t, never, 20*time.Millisecond)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				w.note()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	defer close(stop)
	testtool.WaitFor(t, func() bool { return w.flushes.Load() >= 2 })
}
