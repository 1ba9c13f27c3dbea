package renew

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Clock is time as the scheduler sees it; tests drive a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults.
const (
	DefaultAt = 2.0 / 3
	// MinBackoff is the first retry delay, doubled per failure up to
	// MaxBackoff.
	MinBackoff = time.Minute
	MaxBackoff = time.Hour
	// maxSleep bounds one wait, so a certificate replaced by hand, a
	// suspended machine or a clock change is noticed within hours rather
	// than at the old due date.
	maxSleep = 12 * time.Hour
)

// Validity is what the scheduler needs of the thing it renews.
type Validity struct {
	// Serial names this version in the log.
	Serial              string
	NotBefore, NotAfter time.Time
}

// Of is a certificate's validity.
func Of(c *x509.Certificate) Validity {
	return Validity{Serial: c.SerialNumber.String(), NotBefore: c.NotBefore, NotAfter: c.NotAfter}
}

// Scheduler renews what Current returns.
type Scheduler struct {
	// What is named in the log ("server certificate", "CRL"); Hint says
	// what to do by hand when renewals keep failing.
	What, Hint string
	// Current returns the validity of the version in use now. The zero
	// Validity (nothing yet) is due at once.
	Current func() (Validity, error)
	// Renew makes and installs a new version; Current returns it
	// afterwards.
	Renew func(ctx context.Context) error
	// At is the fraction of the lifetime after which to renew, in (0, 1);
	// zero means DefaultAt.
	At    float64
	Clock Clock // nil means the system clock
	Log   *slog.Logger
}

// ParseFraction reads "2/3" or "0.66" as a renewal point.
func ParseFraction(s string) (float64, error) {
	var f float64
	var num, den int
	if n, err := fmt.Sscanf(s, "%d/%d", &num, &den); err == nil && n == 2 {
		if den == 0 {
			return 0, fmt.Errorf("renewal point %q: division by zero", s)
		}
		f = float64(num) / float64(den)
	} else if _, err := fmt.Sscanf(s, "%g", &f); err != nil {
		return 0, fmt.Errorf("renewal point %q: want a fraction such as 2/3 or 0.75", s)
	}
	if !(f > 0 && f < 1) { // NaN too
		return 0, fmt.Errorf("renewal point %q: must lie strictly between 0 and 1 of the lifetime", s)
	}
	return f, nil
}

// Due is when v should be renewed.
func Due(v Validity, at float64) time.Time {
	life := v.NotAfter.Sub(v.NotBefore)
	return v.NotBefore.Add(time.Duration(float64(life) * at))
}

// Run renews whenever the current version is due, until ctx ends. A
// failure is logged at error level with the next attempt and the expiry,
// and retried after MinBackoff, doubling up to MaxBackoff; the version in
// use is left alone meanwhile.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.At == 0 {
		s.At = DefaultAt
	}
	if !(s.At > 0 && s.At < 1) {
		return fmt.Errorf("renewal point %g: must lie strictly between 0 and 1", s.At)
	}
	if s.Clock == nil {
		s.Clock = realClock{}
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	failures := 0
	announced := ""
	for {
		wait, cur, err := s.untilDue()
		if err == nil && wait > 0 && cur.Serial != announced {
			s.Log.Info(s.What+" renewal scheduled", "serial", cur.Serial, "renew_at", Due(cur, s.At).UTC(), "not_after", cur.NotAfter.UTC())
			announced = cur.Serial
		}
		if err == nil && wait <= 0 {
			err = s.renew(ctx, cur)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			wait = backoff(failures)
			s.logFailure(err, cur, wait, failures)
		case wait <= 0:
			failures = 0
			continue // renewed: the new version decides the next wait
		default:
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.Clock.After(min(wait, maxSleep)):
		}
	}
}

func (s *Scheduler) untilDue() (time.Duration, Validity, error) {
	cur, err := s.Current()
	if err != nil {
		return 0, Validity{}, fmt.Errorf("read the %s in use: %w", s.What, err)
	}
	return Due(cur, s.At).Sub(s.Clock.Now()), cur, nil
}

// errStillDue stops a CA that hands back an equally old version (or an
// install that did not take) from being asked again in a tight loop.
var errStillDue = errors.New("renewed, but the version in use is still due")

func (s *Scheduler) renew(ctx context.Context, old Validity) error {
	s.Log.Info("renewing "+s.What, "serial", old.Serial, "not_after", old.NotAfter.UTC())
	if err := s.Renew(ctx); err != nil {
		return err
	}
	wait, cur, err := s.untilDue()
	if err != nil {
		return err
	}
	if wait <= 0 {
		return fmt.Errorf("%w (serial %s, due %s)", errStillDue, cur.Serial, Due(cur, s.At).UTC().Format(time.RFC3339))
	}
	s.Log.Info(s.What+" renewed", "old_serial", old.Serial, "serial", cur.Serial, "not_after", cur.NotAfter.UTC(), "next_renewal", Due(cur, s.At).UTC())
	return nil
}

func (s *Scheduler) logFailure(err error, cur Validity, retry time.Duration, failures int) {
	attrs := []any{"err", err, "attempt", failures, "retry_in", retry.String()}
	if !cur.NotAfter.IsZero() {
		left := cur.NotAfter.Sub(s.Clock.Now())
		attrs = append(attrs, "serial", cur.Serial, "not_after", cur.NotAfter.UTC(), "expires_in", left.Round(time.Minute).String())
	}
	s.Log.Error(strings.ToUpper(s.What)+" RENEWAL FAILED: still serving the current one; "+s.Hint, attrs...)
}

// backoff is the wait after the n-th consecutive failure (n >= 1).
func backoff(n int) time.Duration {
	return min(MinBackoff<<min(n-1, 16), MaxBackoff)
}
