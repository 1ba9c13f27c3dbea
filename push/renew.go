package push

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/renew"
	"github.com/pushca/pushca/push/enroll"
)

// AutoRenew renews the server certificates of Config.Host, one per chain
// family, while serving.
type AutoRenew struct {
	// At is the fraction of the lifetime after which to renew; zero means
	// two thirds.
	At float64
	// Renew issues new certificates in every family into the state
	// directory, usually RenewWithCA. The server reloads its certificates
	// afterwards.
	Renew func(ctx context.Context) error
	// CRL, when set, regenerates every family's CRL (usually CRLWithCA) once
	// half the lifetime of one has passed, so no CRL served goes stale.
	CRL func(ctx context.Context) error
	// Clock is nil in production; tests move time with it.
	Clock renew.Clock
}

// RenewWithCA renews host's certificate in every chain family where it has
// one, through the CA in dir.
func RenewWithCA(dir, host string, password []byte, log *slog.Logger) func(context.Context) error {
	return withCA(dir, password, log, func(ctx context.Context, authority *ca.CA) error {
		_, err := authority.Renew(ctx, host)
		return err
	})
}

// CRLWithCA regenerates the CRL of every chain family of the CA in dir.
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
	// One scheduler for every family: each renewal renews them all, and two
	// schedulers would each open the CA at the same moment, one of them in
	// vain. The families are issued together, so renewing them together
	// renews none much early.
	out := []*renew.Scheduler{{
		What: "server certificate", Hint: "renew by hand with `pushca cert renew " + s.cfg.Host + "` if this persists",
		Current: func() (renew.Validity, error) {
			var vs []renew.Validity
			for _, ch := range s.certs.current() {
				vs = append(vs, renew.Of(ch.cert.Leaf))
			}
			if len(vs) == 0 {
				return renew.Validity{}, fmt.Errorf("no server certificate loaded for %s", s.cfg.Host)
			}
			return firstDue(vs, ar.At), nil
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
		files := enroll.CRLFiles(s.cfg.Dir, s.slots)
		out = append(out, &renew.Scheduler{
			What: "CRL", Hint: "regenerate it by hand with `pushca ca crl` if this persists",
			Current: func() (renew.Validity, error) {
				var vs []renew.Validity
				for _, path := range files {
					v, err := crlValidity(path)
					if err != nil {
						return renew.Validity{}, err
					}
					vs = append(vs, v)
				}
				return firstDue(vs, crlRenewAt), nil
			},
			Renew: ar.CRL, At: crlRenewAt, Clock: ar.Clock, Log: s.log,
		})
	}
	return out, nil
}

// firstDue is the validity among vs (not empty) that is due first at at
// (zero: renew.DefaultAt); the zero Validity, nothing there yet, is due at
// once.
func firstDue(vs []renew.Validity, at float64) renew.Validity {
	if at == 0 {
		at = renew.DefaultAt
	}
	return slices.MinFunc(vs, func(a, b renew.Validity) int {
		return renew.Due(a, at).Compare(renew.Due(b, at))
	})
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
