package renew

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"
)

// fakeClock hands every wait to the test, which moves time and fires it.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan fakeWait
}

type fakeWait struct {
	d    time.Duration
	fire chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	w := fakeWait{d, make(chan time.Time, 1)}
	c.waits <- w
	return w.fire
}

// next returns the scheduler's next wait and fires it after moving time on
// by its length.
func (c *fakeClock) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case w := <-c.waits:
		c.mu.Lock()
		c.now = c.now.Add(w.d)
		now := c.now
		c.mu.Unlock()
		w.fire <- now
		return w.d
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler asked for no wait")
	}
	return 0
}

func cert(serial int64, from time.Time, life time.Duration) *x509.Certificate {
	return &x509.Certificate{SerialNumber: big.NewInt(serial), NotBefore: from, NotAfter: from.Add(life)}
}

func TestRenewsAtTwoThirdsAndBacksOff(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start, waits: make(chan fakeWait, 1)}
	var mu sync.Mutex
	current := cert(1, start, 90*24*time.Hour)
	fail := 3 // the CA is unreachable for the first three attempts
	renewals := 0
	s := &Scheduler{
		Current: func() (Validity, error) {
			mu.Lock()
			defer mu.Unlock()
			return Of(current), nil
		},
		Renew: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if fail > 0 {
				fail--
				return errors.New("database in use")
			}
			renewals++
			current = cert(int64(renewals+1), clock.Now(), 90*24*time.Hour)
			return nil
		},
		Clock: clock,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	// 60 days to the due date, slept in steps of at most maxSleep.
	var slept time.Duration
	for slept < 60*24*time.Hour {
		d := clock.next(t)
		if d > maxSleep {
			t.Fatalf("one wait of %v, longer than %v", d, maxSleep)
		}
		slept += d
	}
	if slept != 60*24*time.Hour {
		t.Fatalf("slept %v before the first attempt, want 60 days", slept)
	}
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		if d := clock.next(t); d != want {
			t.Fatalf("retry %d after %v, want %v", i+1, d, want)
		}
	}
	// The fourth attempt succeeded: the next wait is towards the new
	// certificate's due date, 60 days after its start.
	if d := clock.next(t); d != maxSleep {
		t.Fatalf("after the renewal waited %v, want a full %v", d, maxSleep)
	}
	mu.Lock()
	if renewals != 1 || current.SerialNumber.Int64() != 2 {
		t.Fatalf("renewals %d, serial %v", renewals, current.SerialNumber)
	}
	mu.Unlock()
	cancel()
	// Unblock a scheduler that had already asked for its next wait.
	select {
	case w := <-clock.waits:
		w.fire <- clock.Now()
	default:
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Nothing yet (a CRL never generated) is due at once.
func TestNothingYetIsDue(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), waits: make(chan fakeWait, 1)}
	made := Validity{}
	s := &Scheduler{
		Current: func() (Validity, error) { return made, nil },
		Renew: func(context.Context) error {
			made = Validity{Serial: "1", NotBefore: clock.Now(), NotAfter: clock.Now().Add(7 * 24 * time.Hour)}
			return nil
		},
		At: 0.5, Clock: clock,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if d := clock.next(t); d != maxSleep || made.Serial != "1" {
		t.Fatalf("first wait %v, made %+v: want one made at once, then a full sleep", d, made)
	}
	cancel()
	select {
	case w := <-clock.waits:
		w.fire <- clock.Now()
	default:
	}
	<-done
}

func TestBackoffIsBounded(t *testing.T) {
	for n := 1; n < 100; n++ {
		if d := backoff(n); d < MinBackoff || d > MaxBackoff || (n > 1 && d < backoff(n-1)) {
			t.Fatalf("backoff(%d) = %v", n, d)
		}
	}
	if backoff(100) != MaxBackoff {
		t.Fatal("never reaches the bound")
	}
}

// A CA that hands back a certificate that is already due must not be
// asked again at once.
func TestStillDueIsAFailure(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start.Add(80 * 24 * time.Hour), waits: make(chan fakeWait, 1)}
	old := cert(1, start, 90*24*time.Hour)
	calls := 0
	s := &Scheduler{
		Current: func() (Validity, error) { return Of(old), nil },
		Renew:   func(context.Context) error { calls++; return nil },
		Clock:   clock,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if d := clock.next(t); d != MinBackoff {
		t.Fatalf("waited %v after a renewal that changed nothing, want %v", d, MinBackoff)
	}
	if d := clock.next(t); d != 2*MinBackoff {
		t.Fatalf("second wait %v", d)
	}
	cancel()
	select {
	case w := <-clock.waits:
		w.fire <- clock.Now()
	default:
	}
	<-done
	if calls < 2 || calls > 3 {
		t.Fatalf("renew called %d times", calls)
	}
}

func TestParseFraction(t *testing.T) {
	for in, want := range map[string]float64{"2/3": 2.0 / 3, "0.75": 0.75, "1/2": 0.5} {
		if got, err := ParseFraction(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "1", "3/2", "1/0", "x", "-0.5"} {
		if _, err := ParseFraction(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// FuzzParseFraction: whatever --renew-at says, an accepted value lies
// strictly inside the lifetime.
func FuzzParseFraction(f *testing.F) {
	for _, s := range []string{"2/3", "0.75", "1/0", "-1/-2", "1e-300", "NaN", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseFraction(s)
		if err == nil && !(v > 0 && v < 1) {
			t.Fatalf("%q accepted as %v", s, v)
		}
	})
}
