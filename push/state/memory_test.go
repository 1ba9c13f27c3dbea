package state_test

import (
	"context"
	"testing"

	"github.com/pushca/pushca/push/state"
	"github.com/pushca/pushca/push/state/statetest"
)

func TestMemoryStore(t *testing.T) {
	statetest.Store(t, func(*testing.T) state.Store { return state.NewMemory() })
}

// A folder keeps its newest messages only, and its sequence counts on.
func TestMemoryKeepsNewestMessages(t *testing.T) {
	ctx := context.Background()
	s := state.NewMemory()
	for range state.MaxMessagesPerFolder + 5 {
		if _, err := s.Deliver(ctx, "alice", "1", state.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, seq, err := s.Since(ctx, "alice", "1", 0)
	if err != nil || len(msgs) != state.MaxMessagesPerFolder || msgs[0].Seq != 6 || seq != state.MaxMessagesPerFolder+5 {
		t.Fatalf("%d messages from sequence %d, at %d, %v", len(msgs), msgs[0].Seq, seq, err)
	}
}
