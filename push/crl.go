package push

import (
	"bytes"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"
)

// CRLPath is where the plain-HTTP listener publishes the CA's revocation
// list: the URL to give `pushca init --crl-url`, so that it lands in every
// certificate issued as the CRL distribution point. Plain HTTP is what
// RFC 5280 expects of a distribution point: a CRL is signed, and fetching
// it over TLS would need the chain it is there to check.
const CRLPath = "/pushca.crl"

// withCRL serves the CRL file (DER, as `pushca ca crl` and revocations
// write it) at CRLPath and everything else from next.
func withCRL(path string, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != CRLPath {
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
		http.ServeContent(w, r, "pushca.crl", crl.ThisUpdate, bytes.NewReader(der))
	})
}
