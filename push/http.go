package push

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"strings"
)

// ActiveSyncPath is the one path devices use.
const ActiveSyncPath = "/Microsoft-Server-ActiveSync"

// enrollPage is a placeholder until the enrollment pages (per-profile
// instructions, QR codes) exist; it already offers the root and its
// fingerprints for an out-of-band check.
var enrollPage = template.Must(template.New("enroll").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pushca enrollment</title></head>
<body><h1>Install the root certificate</h1>
<p>Download: <a href="/root.crt">root.crt</a> (DER, for Windows Mobile, Android, iOS) or
<a href="/root.pem">root.pem</a> (PEM).</p>
<p>Before trusting it, compare its fingerprint with the one your administrator gave you:</p>
<pre>SHA-256 {{.SHA256}}
SHA-1   {{.SHA1}}</pre>
<p>Mail is served over HTTPS only.</p>
</body></html>
`))

// enrollHandler serves the plain-HTTP side: what a device needs before it
// trusts the root. It refuses the ActiveSync path without ever looking at
// the Authorization header, so credentials sent in the clear go no further.
func enrollHandler(rootPath string, log *slog.Logger) http.Handler {
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
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		der, ok := root(w)
		if !ok {
			return
		}
		s256, s1 := sha256.Sum256(der), sha1.Sum(der)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		enrollPage.Execute(w, struct{ SHA256, SHA1 string }{fingerprint(s256[:]), fingerprint(s1[:])})
	})
	mux.HandleFunc("GET /root.crt", func(w http.ResponseWriter, r *http.Request) {
		if der, ok := root(w); ok {
			w.Header().Set("Content-Type", "application/x-x509-ca-cert")
			w.Write(der)
		}
	})
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

func fingerprint(sum []byte) string {
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}
