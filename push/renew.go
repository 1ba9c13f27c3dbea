package push

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/renew"
)

// AutoRenew renews the server certificate of Config.Host while serving.
type AutoRenew struct {
	// At is the fraction of the lifetime after which to renew; zero means
	// two thirds.
	At float64
	// Renew issues the new certificate into the state directory, usually
	// RenewWithCA. The server reloads its certificates afterwards.
	Renew func(ctx context.Context) error
	// Clock is nil in production; tests move time with it.
	Clock renew.Clock
}

// RenewWithCA renews host's certificate through the CA in dir, opening the
// CA only for the renewal: `pushca cert` and `pushca ca` commands can use
// the state directory in between (while one does, a renewal fails and is
// retried).
func RenewWithCA(dir, host string, password []byte, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		authority, err := ca.Open(ctx, dir, password)
		if err != nil {
			return err
		}
		defer authority.Close()
		notes, err := authority.Repair(ctx)
		for _, n := range notes {
			log.Info("CA repair before renewal", "note", n)
		}
		if err != nil {
			return err
		}
		if _, err := authority.Renew(ctx, host); err != nil {
			return err
		}
		return nil
	}
}

func (s *Server) renewScheduler() (*renew.Scheduler, error) {
	ar := s.cfg.AutoRenew
	if ar.Renew == nil {
		return nil, errors.New("auto-renew: no renewal function")
	}
	if len(s.cfg.Pairs) > 0 {
		return nil, errors.New("auto-renew needs the certificate from the state directory (a host), not certificate and key files")
	}
	return &renew.Scheduler{
		Current: func() (*x509.Certificate, error) {
			leaves := s.certs.Leaves()
			if len(leaves) == 0 {
				return nil, fmt.Errorf("no server certificate loaded for %s", s.cfg.Host)
			}
			return leaves[0], nil
		},
		Renew: func(ctx context.Context) error {
			if err := ar.Renew(ctx); err != nil {
				return err
			}
			// At once rather than at the next handshake, so that what the
			// scheduler reads next is the new certificate.
			return s.certs.Reload()
		},
		At:    ar.At,
		Clock: ar.Clock,
		Log:   s.log,
	}, nil
}
