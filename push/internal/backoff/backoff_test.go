package backoff

import (
	"fmt"
	"testing"
	"time"
)

func TestBackoffIsBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := New(func() time.Time { return now })
	for i := range maxTrackedHosts + 50 {
		now = now.Add(time.Millisecond)
		b.Failed("10.0."+string(rune('a'+i%26))+"."+time.Duration(i).String(), false)
	}
	if len(b.hosts) > maxTrackedHosts {
		t.Fatalf("%d tracked hosts", len(b.hosts))
	}
	// Entries expire: an old failure count starts over.
	b.Failed("x", false)
	b.hosts["x"].count = 100
	now = now.Add(failureMemory + maxBlock + time.Second)
	if n, _ := b.Failed("x", false); n != 1 {
		t.Fatalf("count after expiry = %d", n)
	}
}

// TestFullTableNeverFreesABlockedClient: an attacker fills the back-off
// table from other addresses; the client that must wait still waits, and
// once only waiting clients are left a new one is refused rather than
// freeing one of them.
func TestFullTableNeverFreesABlockedClient(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := New(func() time.Time { return now })
	for range FreeFailures {
		b.Failed("guesser", false)
	}
	for i := range maxTrackedHosts + 50 {
		now = now.Add(time.Microsecond)
		b.Failed(fmt.Sprintf("filler%d", i), false)
	}
	if b.Blocked("guesser") == 0 {
		t.Fatal("filling the table ended the guesser's wait")
	}
	if len(b.hosts) > maxTrackedHosts {
		t.Fatalf("%d tracked clients", len(b.hosts))
	}
	for k := range b.hosts {
		b.hosts[k].until = now.Add(time.Minute)
	}
	if wait, ok := b.Begin("newcomer"); ok || wait <= 0 {
		t.Errorf("a new client was tracked in a table of waiting ones (wait %v)", wait)
	}
	if b.Blocked("guesser") == 0 {
		t.Error("the guesser was dropped for a newcomer")
	}
}
