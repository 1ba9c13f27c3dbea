package push

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

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
	// CRL, when set, regenerates certs/crl.der (usually CRLWithCA) once
	// half its lifetime has passed, so the CRL served never goes stale.
	CRL func(ctx context.Context) error
	// Clock is nil in production; tests move time with it.
	Clock renew.Clock
}

// RenewWithCA renews host's certificate through the CA in dir.
func RenewWithCA(dir, host string, password []byte, log *slog.Logger) func(context.Context) error {
	return withCA(dir, password, log, func(ctx context.Context, authority *ca.CA) error {
		_, err := authority.Renew(ctx, host)
		return err
	})
}

// CRLWithCA regenerates the CRL of the CA in dir.
func CRLWithCA(dir string, password []byte, log *slog.Logger) func(context.Context) error {
	return withCA(dir, password, log, func(ctx context.Context, authority *ca.CA) error {
		_, err := authority.CRL(ctx)
		return err
	})
}

// withCA opens the CA only for fn: `pushca cert` and `pushca ca` commands
// can use the state directory in between (while one does, fn's opening
// fails and the scheduler retries).
func withCA(dir string, password []byte, log *slog.Logger, fn func(context.Context, *ca.CA) error) func(context.Context) error {
	return func(ctx context.Context) error {
		authority, err := ca.Open(ctx, dir, password)
		if err != nil {
			return err
		}
		defer authority.Close()
		notes, err := authority.Repair(ctx)
		for _, n := range notes {
			log.Info("CA repair", "note", n)
		}
		if err != nil {
			return err
		}
		return fn(ctx, authority)
	}
}

// crlRenewAt regenerates a CRL half-way: with a week's lifetime, a server
// stopped for three days still leaves a valid one.
const crlRenewAt = 0.5

func (s *Server) renewSchedulers() ([]*renew.Scheduler, error) {
	ar := s.cfg.AutoRenew
	if ar.Renew == nil {
		return nil, errors.New("auto-renew: no renewal function")
	}
	if len(s.cfg.Pairs) > 0 {
		return nil, errors.New("auto-renew needs the certificate from the state directory (a host), not certificate and key files")
	}
	out := []*renew.Scheduler{{
		What: "server certificate", Hint: "renew by hand with `pushca cert renew " + s.cfg.Host + "` if this persists",
		Current: func() (renew.Validity, error) {
			leaves := s.certs.Leaves()
			if len(leaves) == 0 {
				return renew.Validity{}, fmt.Errorf("no server certificate loaded for %s", s.cfg.Host)
			}
			return renew.Of(leaves[0]), nil
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
	}}
	if ar.CRL != nil {
		path := ca.Layout{Dir: s.cfg.Dir}.CRL()
		out = append(out, &renew.Scheduler{
			What: "CRL", Hint: "regenerate it by hand with `pushca ca crl` if this persists",
			Current: func() (renew.Validity, error) { return crlValidity(path) },
			Renew:   ar.CRL, At: crlRenewAt, Clock: ar.Clock, Log: s.log,
		})
	}
	return out, nil
}

// crlValidity reads the CRL file's update times; no file yet is the zero
// Validity, due at once.
func crlValidity(path string) (renew.Validity, error) {
	der, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return renew.Validity{}, nil
	}
	if err != nil {
		return renew.Validity{}, fmt.Errorf("read CRL: %w", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		// Due at once: regenerating replaces the damaged file.
		return renew.Validity{}, nil
	}
	v := renew.Validity{NotBefore: crl.ThisUpdate, NotAfter: crl.NextUpdate}
	if crl.Number != nil {
		v.Serial = crl.Number.String()
	}
	return v, nil
}
