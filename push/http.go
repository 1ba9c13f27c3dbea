package push

import (
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/provision"
)

// ActiveSyncPath is the one path devices use.
const ActiveSyncPath = "/Microsoft-Server-ActiveSync"

// enrollHandler serves the plain-HTTP side: what a device needs before it
// trusts the root (see enrollSite), as the site at pageURL. It refuses the
// ActiveSync path without ever looking at the Authorization header, so
// credentials sent in the clear go no further.
func enrollHandler(dir, pageURL string, log *slog.Logger) http.Handler {
	site := &enrollSite{
		layout: ca.Layout{Dir: dir}, url: pageURL, links: &linkStore{path: LinksPath(dir)}, log: log,
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
	site.register(mux)
	mux.HandleFunc("GET /root.pem", func(w http.ResponseWriter, r *http.Request) {
		if der, ok := root(w); ok {
			w.Header().Set("Content-Type", "application/x-pem-file")
			pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.URL.Path, ActiveSyncPath) {
			http.Error(w, "ActiveSync is served over HTTPS only: configure the device for SSL and install the root certificate from this site's home page first. If the device just sent a password here in the clear, change it.", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
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
