package acmesrv

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/smallstep/certificates/acme"
	"github.com/smallstep/certificates/authority/provisioner"
	"go.step.sm/crypto/x509util"
)

// The family's rules are its leaf template's (see package ca). step-ca
// reports a template's refusal at finalize as serverInternal, "The server
// experienced an internal error", and lets a wildcard order through to an
// authorization with no challenge its provisioner offers. Both are turned
// here into the ACME errors RFC 8555 has for them, with the family's
// reason, so that certbot and lego print why.

// problemWriter lets onError answer in place of step-ca's own rendering of
// the same error, which follows it.
type problemWriter struct {
	http.ResponseWriter
	replaced bool
}

func (w *problemWriter) replace(r *http.Request, e *acme.Error) {
	e.Render(w.ResponseWriter, r)
	w.replaced = true
}

func (w *problemWriter) WriteHeader(code int) {
	if !w.replaced {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *problemWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// onError is step-ca's error logger: it runs before step-ca renders err.
func (s *server) onError(w http.ResponseWriter, r *http.Request, err error) {
	if msg, ok := templateRefusal(err); ok {
		s.log.Info("ACME order refused by its chain family", "path", r.URL.Path, "reason", msg)
		if pw, ok := w.(*problemWriter); ok {
			pw.replace(r, acme.NewDetailedError(acme.ErrorBadCSRType, "%s", msg))
		}
		return
	}
	// A client's mistake is the client's to fix; a 5xx is the operator's.
	level := slog.LevelError
	var ae *acme.Error
	if errors.As(err, &ae) && ae.Status < http.StatusInternalServerError {
		level = slog.LevelInfo
	}
	s.log.Log(r.Context(), level, "ACME request failed", "method", r.Method, "path", r.URL.Path, "err", err)
}

// templateRefusal is the message of the leaf template's `fail` in err.
// acme.Error does not unwrap: its cause is its Err.
func templateRefusal(err error) (string, bool) {
	var ae *acme.Error
	if errors.As(err, &ae) && ae.Err != nil {
		err = ae.Err
	}
	var te *x509util.TemplateError
	if !errors.As(err, &te) {
		return "", false
	}
	return te.Message, true
}

// familyDB is step-ca's ACME database refusing, when the order is made,
// the wildcard names no challenge of the provisioner can prove or the
// family's devices would reject.
type familyDB struct{ acme.DB }

func (d familyDB) CreateAuthorization(ctx context.Context, az *acme.Authorization) error {
	if az.Wildcard {
		if err := refuseWildcard(ctx, az.Identifier.Value); err != nil {
			return err
		}
	}
	return d.DB.CreateAuthorization(ctx, az)
}

// refuseWildcard reads the family's rule from the data its template reads.
func refuseWildcard(ctx context.Context, base string) error {
	p, ok := acme.ProvisionerFromContext(ctx)
	if !ok {
		return acme.NewErrorISE("ACME order without a provisioner")
	}
	var data struct {
		Family    string `json:"family"`
		Wildcards bool   `json:"wildcards"`
	}
	if o := p.GetOptions(); o != nil && o.X509 != nil {
		if err := json.Unmarshal(o.X509.TemplateData, &data); err != nil {
			return acme.WrapErrorISE(err, "template data of provisioner %s", p.GetName())
		}
	}
	if !data.Wildcards {
		return acme.NewDetailedError(acme.ErrorRejectedIdentifierType,
			"wildcard name *.%s; the %s chain family's devices match exact names only", base, data.Family)
	}
	if !p.IsChallengeEnabled(ctx, provisioner.DNS_01) {
		return acme.NewDetailedError(acme.ErrorRejectedIdentifierType,
			"wildcard name *.%s: ACME proves a wildcard only with dns-01, which provisioner %s does not offer", base, p.GetName())
	}
	return nil
}
