// Package renew decides when a certificate is renewed: once a fraction of
// its lifetime has passed, retrying failures with a bounded exponential
// back-off. It sleeps on timers between decisions and knows nothing of how
// a certificate is issued or served.
package renew

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
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

// Scheduler renews the certificate that Current returns.
type Scheduler struct {
	// Current returns the certificate in use now.
	Current func() (*x509.Certificate, error)
	// Renew issues and installs a new certificate; Current returns it
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
	if f <= 0 || f >= 1 {
		return 0, fmt.Errorf("renewal point %q: must lie strictly between 0 and 1 of the lifetime", s)
	}
	return f, nil
}

// Due is when cert should be renewed.
func Due(cert *x509.Certificate, at float64) time.Time {
	life := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotBefore.Add(time.Duration(float64(life) * at))
}

// Run renews whenever the current certificate is due, until ctx ends. A
// failure is logged at error level with the next attempt and the expiry,
// and retried after MinBackoff, doubling up to MaxBackoff; the certificate
// in use is left alone meanwhile.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.At == 0 {
		s.At = DefaultAt
	}
	if s.At <= 0 || s.At >= 1 {
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
		wait, cert, err := s.untilDue()
		if err == nil && wait > 0 && cert.SerialNumber.String() != announced {
			s.Log.Info("server certificate renewal scheduled", "serial", cert.SerialNumber.String(), "renew_at", Due(cert, s.At).UTC(), "not_after", cert.NotAfter.UTC())
			announced = cert.SerialNumber.String()
		}
		if err == nil && wait <= 0 {
			err = s.renew(ctx, cert)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			wait = backoff(failures)
			s.logFailure(err, cert, wait, failures)
		case wait <= 0:
			failures = 0
			continue // renewed: the new certificate decides the next wait
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

func (s *Scheduler) untilDue() (time.Duration, *x509.Certificate, error) {
	cert, err := s.Current()
	if err != nil {
		return 0, nil, fmt.Errorf("read the certificate in use: %w", err)
	}
	return Due(cert, s.At).Sub(s.Clock.Now()), cert, nil
}

// errStillDue stops a CA that hands back an equally old certificate (or
// an install that did not take) from being asked again in a tight loop.
var errStillDue = errors.New("renewed, but the certificate in use is still due")

func (s *Scheduler) renew(ctx context.Context, old *x509.Certificate) error {
	s.Log.Info("renewing server certificate", "serial", old.SerialNumber.String(), "not_after", old.NotAfter.UTC())
	if err := s.Renew(ctx); err != nil {
		return err
	}
	wait, cert, err := s.untilDue()
	if err != nil {
		return err
	}
	if wait <= 0 {
		return fmt.Errorf("%w (serial %s, due %s)", errStillDue, cert.SerialNumber, Due(cert, s.At).UTC().Format(time.RFC3339))
	}
	s.Log.Info("server certificate renewed", "old_serial", old.SerialNumber.String(), "serial", cert.SerialNumber.String(),
		"not_after", cert.NotAfter.UTC(), "next_renewal", Due(cert, s.At).UTC())
	return nil
}

func (s *Scheduler) logFailure(err error, cert *x509.Certificate, retry time.Duration, failures int) {
	attrs := []any{"err", err, "attempt", failures, "retry_in", retry.String()}
	if cert != nil {
		left := cert.NotAfter.Sub(s.Clock.Now())
		attrs = append(attrs, "serial", cert.SerialNumber.String(), "not_after", cert.NotAfter.UTC(), "expires_in", left.Round(time.Minute).String())
	}
	s.Log.Error("SERVER CERTIFICATE RENEWAL FAILED: still serving the current certificate; renew by hand with `pushca cert renew` if this persists", attrs...)
}

// backoff is the wait after the n-th consecutive failure (n >= 1).
func backoff(n int) time.Duration {
	return min(MinBackoff<<min(n-1, 16), MaxBackoff)
}
