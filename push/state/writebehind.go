package state

import (
	"log/slog"
	"time"
)

// NoteDelay is how long a device store waits for noted records to stop
// coming before it writes them together. A broadcast notes thousands of
// Pings within a second: writing while they come would take the cores the
// answers need (and, with several endpoints on one database, one flusher
// per endpoint at once), so the write follows the burst.
const NoteDelay = 200 * time.Millisecond

// MaxNoteDelay bounds the wait from the first note, so that a steady
// stream of notes is written too: a crash loses at most this much Ping
// history.
const MaxNoteDelay = 2 * time.Second

// WriteBehind runs a device store's write-behind until stop closes: after
// a kick it gathers notes until none came for NoteDelay, or MaxNoteDelay
// after the first, then calls flush, logging a failure (the notes stay
// for the next try). Once stop closes it flushes what is left and returns
// that flush's error, for the store's Close.
func WriteBehind(kick, stop <-chan struct{}, flush func() error, log *slog.Logger) error {
	return writeBehind(kick, stop, flush, log, NoteDelay, MaxNoteDelay)
}

func writeBehind(kick, stop <-chan struct{}, flush func() error, log *slog.Logger, quiet, most time.Duration) error {
	for {
		select {
		case <-kick:
			if stopped := gather(kick, stop, quiet, most); stopped {
				return flush()
			}
			if err := flush(); err != nil {
				log.Error("write device records", "err", err)
			}
		case <-stop:
			return flush()
		}
	}
}

// gather returns once no kick came for quiet, or most after it was
// called; or, stopped, when stop closes.
func gather(kick, stop <-chan struct{}, quiet, most time.Duration) (stopped bool) {
	lull, limit := time.NewTimer(quiet), time.NewTimer(most)
	defer lull.Stop()
	defer limit.Stop()
	for {
		select {
		case <-kick:
			lull.Reset(quiet)
		case <-lull.C:
			return false
		case <-limit.C:
			return false
		case <-stop:
			return true
		}
	}
}
