package enroll

import (
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/provision"
)

// Handler serves the plain-HTTP site of the CA in the state directory dir:
// what a device needs before it trusts the root (see site), as the site at
// pageURL, with the per-user pages of the links file at linksPath, and the
// CRL of each chain family in slots and of the root.
func Handler(dir, linksPath, pageURL string, slots []ca.Slot, log *slog.Logger) http.Handler {
	s := &site{
		layout: ca.Layout{Dir: dir}, url: pageURL, links: &linkStore{path: linksPath}, log: log,
		landing: sync.OnceValues(func() (*provision.HTMLPages, error) { return provision.ParseHTML("enroll.html.tpl") }),
	}
	rootPath := ca.Layout{Dir: dir}.RootCert()
	root := func(w http.ResponseWriter) ([]byte, bool) {
		der, err := readRootDER(rootPath)
		if err != nil {
			log.Error("root certificate", "err", err)
			http.Error(w, "the root certificate is not available yet", http.StatusServiceUnavailable)
			return nil, false
		}
		return der, true
	}
	mux := http.NewServeMux()
	s.register(mux)
	mux.HandleFunc("GET /root.pem", func(w http.ResponseWriter, r *http.Request) {
		if der, ok := root(w); ok {
			w.Header().Set("Content-Type", "application/x-pem-file")
			pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
	})
	return withCRL(CRLFiles(dir, slots), log, mux)
}

func readRootDER(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read root: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("root file " + path + " holds no PEM certificate")
	}
	return b.Bytes, nil
}
