package acmesrv

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/smallstep/certificates/acme"
	"github.com/smallstep/certificates/acme/api"
	acmenosql "github.com/smallstep/certificates/acme/db/nosql"
	"github.com/smallstep/certificates/api/log"
	"github.com/smallstep/certificates/authority"

	"github.com/pushca/pushca/ca"
)

// Prefix is the path every family's ACME API is served under:
// Prefix/FAMILY/directory. A server mounts the handler at Prefix + "/".
const Prefix = "/acme"

// Options tunes the handler; the zero value serves the standard ACME.
type Options struct {
	// Dial makes the connections that validate challenges, to the order's
	// name on port 80 (http-01) or 443 (tls-alpn-01). Nil dials them as
	// DNS resolves the name. See PortDialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives a line per failed or refused request; nil discards.
	Log *slog.Logger
}

// server is the state every request shares: step-ca's ACME components,
// built once, and the CA whose authority each request borrows.
type server struct {
	ca     *ca.CA
	db     acme.DB
	client acme.Client
	linker acme.Linker
	routes http.Handler
	log    *slog.Logger
}

// New returns the handler of Prefix/FAMILY/... for every chain family of
// c. Links in its answers name the host the client asked for, with https:
// serve it over TLS. It is valid until c is closed.
func New(c *ca.CA, opts Options) (http.Handler, error) {
	sdb, err := c.StepDB()
	if err != nil {
		return nil, err
	}
	adb, err := acmenosql.New(sdb)
	if err != nil {
		return nil, fmt.Errorf("ACME tables in the CA database: %w", err)
	}
	routes := chi.NewRouter()
	routes.Route(Prefix, func(r chi.Router) { api.Route(r) })
	s := &server{
		ca:     c,
		db:     familyDB{adb},
		client: newValidationClient(opts.Dial),
		linker: acme.NewLinker("", Prefix),
		routes: routes,
		log:    opts.Log,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// The family is the first path element, which step-ca's routes call
	// the provisioner: the mux sends it to the authority that knows it.
	mux := http.NewServeMux()
	var dirs []string
	for _, f := range c.Families() {
		mux.Handle(Prefix+"/"+f.Name+"/", s.family(f.Name))
		dirs = append(dirs, Prefix+"/"+f.Name+"/directory")
	}
	mux.Handle(Prefix+"/", unknownFamily(dirs))
	return mux, nil
}

// family serves one family's requests with its authority in the context,
// where step-ca's handlers look for it.
func (s *server) family(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pw := &problemWriter{ResponseWriter: w}
		err := s.ca.WithAuthority(name, func(a *authority.Authority) error {
			ctx := authority.NewContext(r.Context(), a)
			ctx = acme.NewContext(ctx, s.db, s.client, s.linker, nil)
			ctx = log.WithErrorLogger(ctx, s.onError)
			s.routes.ServeHTTP(pw, r.WithContext(ctx))
			return nil
		})
		if err != nil {
			s.log.Error("ACME request without its chain family's authority", "family", name, "err", err)
			acme.NewErrorISE("the %s chain family's authority is not available", name).Render(w, r)
		}
	})
}

// unknownFamily answers a path outside every family with the directories
// there are, as an ACME problem a client prints.
func unknownFamily(dirs []string) http.Handler {
	msg := "this CA has no such ACME directory; it serves " + strings.Join(dirs, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := acme.NewDetailedError(acme.ErrorMalformedType, "%s", msg)
		e.Status = http.StatusNotFound
		e.Render(w, r)
	})
}
