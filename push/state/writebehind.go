package state

import (
	"log/slog"
	"time"
)

// NoteDelay is how long noted device records gather before a store
// writes them together: a broadcast notes thousands of Pings within a
// second, and a crash loses at most this much Ping history.
const NoteDelay = 200 * time.Millisecond

// WriteBehind runs a device store's write-behind until stop closes: after
// each kick it waits NoteDelay for more notes, then calls flush, logging a
// failure (the notes stay for the next try). Once stop closes it flushes
// what is left and returns that flush's error, for the store's Close.
func WriteBehind(kick, stop <-chan struct{}, flush func() error, log *slog.Logger) error {
	wait := time.NewTimer(NoteDelay)
	wait.Stop()
	for {
		select {
		case <-kick:
			wait.Reset(NoteDelay)
			select {
			case <-wait.C:
			case <-stop:
				wait.Stop()
			}
			if err := flush(); err != nil {
				log.Error("write device records", "err", err)
			}
		case <-stop:
			return flush()
		}
	}
}
