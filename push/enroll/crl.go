package enroll

import (
	"bytes"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/pushca/pushca/ca"
)

// CRLPath is where the plain-HTTP listener publishes the revocation list
// of the CA's first chain family: the URL to give `pushca init --crl-url`,
// so that it lands in every certificate issued as the CRL distribution
// point. Every other family's list is at CRLPathFor its slot, the URL the CA
// writes into that family's certificates. Plain HTTP is what RFC 5280
// expects of a distribution point: a CRL is signed, and fetching it over
// TLS would need the chain it is there to check.
const CRLPath = "/pushca.crl"

// CRLPathFor is where a family's CRL is published: CRLPath with the slot's
// suffix before the extension, as ca names the family's distribution point.
func CRLPathFor(s ca.Slot) string {
	return strings.TrimSuffix(CRLPath, ".crl") + s.Suffix() + ".crl"
}

// RootCRLPath is where the root's CRL, which lists revoked intermediates,
// is published: CRLPath with "-root", the distribution point every
// intermediate names (ca.RootCRLURL).
var RootCRLPath = strings.TrimSuffix(CRLPath, ".crl") + ca.RootCRLSuffix + ".crl"

// CRLFiles maps each family's CRLPathFor, and RootCRLPath, to its file in
// the state directory: what the site serves, and what auto-renew keeps
// fresh.
func CRLFiles(dir string, slots []ca.Slot) map[string]string {
	l := ca.Layout{Dir: dir}
	out := make(map[string]string, len(slots)+1)
	for _, s := range slots {
		out[CRLPathFor(s)] = l.CRL(s)
	}
	out[RootCRLPath] = l.RootCRL()
	return out
}

// withCRL serves each CRL file (DER, as `pushca ca crl` and revocations
// write them) at its path in files and everything else from next.
func withCRL(files map[string]string, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := files[r.URL.Path]
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the CRL is fetched with GET", http.StatusMethodNotAllowed)
			return
		}
		der, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			http.Error(w, "no CRL published yet: run `pushca ca crl` on the server", http.StatusNotFound)
			return
		}
		if err != nil {
			log.Error("read CRL", "path", path, "err", err)
			http.Error(w, "the CRL cannot be read", http.StatusServiceUnavailable)
			return
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			// Serving garbage would make strict clients fail every chain.
			log.Error("CRL file is not a DER CRL; not serving it (regenerate with `pushca ca crl`)", "path", path, "err", err)
			http.Error(w, "the CRL file is damaged", http.StatusServiceUnavailable)
			return
		}
		if !crl.NextUpdate.IsZero() && time.Now().After(crl.NextUpdate) {
			log.Warn("serving an expired CRL: clients that check revocation will reject the chain; regenerate it with `pushca ca crl`", "next_update", crl.NextUpdate.UTC())
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		if !crl.NextUpdate.IsZero() {
			w.Header().Set("Expires", crl.NextUpdate.UTC().Format(http.TimeFormat))
		}
		http.ServeContent(w, r, r.URL.Path, crl.ThisUpdate, bytes.NewReader(der))
	})
}
