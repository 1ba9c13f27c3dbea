package enroll

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/provision"
)

// rootKinds are the device kinds the landing page offers the root for,
// when the CA has a chain family they accept.
var rootKinds = []string{"wm5", "wm6", "wm65", "ios", "android"}

// Content types of the downloads, by extension: what each device's browser
// needs to hand the file to its installer.
var downloadTypes = map[string]string{
	".cab":          "application/vnd.ms-cab-compressed",
	".crt":          "application/x-x509-ca-cert",
	".mobileconfig": "application/x-apple-aspen-config",
	".png":          "image/png",
}

// pageSecurity is sent with every enrollment response: pages load nothing
// from anywhere (styles are inline, images are this site's or inline), and
// a per-user link never leaks through a Referer.
func pageSecurity(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// site is the landing page with the root downloads and the per-user
// pages behind their tokens.
type site struct {
	layout ca.Layout
	// url is the landing page's public address (see PublicURL).
	url   string
	links *linkStore
	log   *slog.Logger
	// landing is the landing page's template, parsed on first use.
	landing func() (*provision.HTMLPages, error)
}

func (e *site) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", e.serveLanding)
	mux.HandleFunc("GET /qr.png", e.serveLandingQR)
	for _, name := range []string{"root.cab", "root.crt", "root.mobileconfig"} {
		mux.HandleFunc("GET /"+name, func(w http.ResponseWriter, r *http.Request) {
			if files, _, ok := e.rootFiles(w); ok {
				e.download(w, name, files[name])
			}
		})
	}
	mux.HandleFunc("GET "+LinkPath+"{token}/{$}", e.serveUserPage)
	mux.HandleFunc("GET "+LinkPath+"{token}/{file}", e.serveUserFile)
}

// ReadChains reads the chains the CA in the state directory dir serves
// devices with: its root and each chain family's intermediate. It needs no
// CA password (ca.ReadSlots reads pushca.json), so a server, a bundle and a
// package read them alike.
func ReadChains(dir string) (provision.Chains, error) {
	slots, err := ca.ReadSlots(dir)
	if err != nil {
		return nil, err
	}
	l := ca.Layout{Dir: dir}
	cs := provision.Chains{}
	for _, s := range slots {
		c, err := provision.ReadChain(l.RootCert(), l.IntermediateCert(s))
		if err != nil {
			return nil, fmt.Errorf("%s chain family: %w", s.Family, err)
		}
		cs[s.Family] = c
	}
	return cs, nil
}

// chains reads the CA's chains on each request, a few small files: a
// family added or an intermediate rotated is served at once.
func (e *site) chains(w http.ResponseWriter) (provision.Chains, bool) {
	cs, err := ReadChains(e.layout.Dir)
	if errors.Is(err, ca.ErrNotInitialized) {
		// A server of certificate files named by hand has no CA here, at
		// most its root: offered to every device kind, as `pushca package
		// --root` does, since nothing tells which devices its chains suit.
		var c provision.Chain
		if c, err = provision.ReadChain(e.layout.RootCert()); err == nil {
			cs = provision.AnyFamily(c)
		}
	}
	if err != nil {
		e.log.Error("enrollment: certificates", "err", err)
		http.Error(w, "the root certificate is not available yet", http.StatusServiceUnavailable)
		return nil, false
	}
	return cs, true
}

// rootFiles are the root downloads for the device kinds the CA serves, and
// what the landing page says about the root.
func (e *site) rootFiles(w http.ResponseWriter) (map[string][]byte, provision.RootView, bool) {
	cs, ok := e.chains(w)
	if !ok {
		return nil, provision.RootView{}, false
	}
	files, view, err := provision.Bundle{Chains: cs, Devices: rootKinds}.RootFiles()
	if err != nil {
		e.log.Error("enrollment: root downloads", "err", err)
		http.Error(w, "the root downloads cannot be built; see the server log", http.StatusInternalServerError)
		return nil, provision.RootView{}, false
	}
	return files, view, true
}

// PublicURL is the address the landing page shows and its QR code
// carries, from the configuration only: the Host header is the client's to
// choose, and reflecting it would let anyone have the page, printed or
// photographed, send phones to their own site. It is configured when given
// (serve --enroll-url), else http://NAME:PORT/ with the HTTP listener's
// port (bound at ln) and as NAME host, else the first name leaves (the
// served certificates) were issued for, else the listener's own address
// unless it is every interface's.
func PublicURL(configured, host string, leaves []*x509.Certificate, ln net.Addr) (string, error) {
	if configured != "" {
		if err := checkBaseURL(configured); err != nil {
			return "", fmt.Errorf("enrollment URL: %w", err)
		}
		return strings.TrimSuffix(configured, "/") + "/", nil
	}
	addr, port, err := net.SplitHostPort(ln.String())
	if err != nil {
		return "", fmt.Errorf("enrollment listener address: %w", err)
	}
	name := host
	if name == "" {
		name = certName(leaves)
	}
	if ip := net.ParseIP(addr); name == "" && ip != nil && !ip.IsUnspecified() {
		name = addr
	}
	if name == "" {
		return "", errors.New("the enrollment page needs the address phones reach it at: give the public enrollment URL (serve --enroll-url)")
	}
	hostPort := net.JoinHostPort(name, port)
	if port == "80" {
		hostPort = strings.TrimSuffix(hostPort, ":80")
	}
	u := "http://" + hostPort + "/"
	if err := provision.CheckQRURL(u); err != nil {
		return "", fmt.Errorf("enrollment URL from the server's name: %w; give one (serve --enroll-url)", err)
	}
	return u, nil
}

// certName is the first name leaves were issued for: the name phones use
// for the server when no host was named.
func certName(leaves []*x509.Certificate) string {
	for _, leaf := range leaves {
		for _, n := range leaf.DNSNames {
			if !strings.Contains(n, "*") {
				return n
			}
		}
		if len(leaf.IPAddresses) > 0 {
			return leaf.IPAddresses[0].String()
		}
	}
	return ""
}

func (e *site) serveLanding(w http.ResponseWriter, r *http.Request) {
	files, view, ok := e.rootFiles(w)
	if !ok {
		return
	}
	v := struct {
		provision.RootView
		URL, RootCAB, RootCRT, Mobileconfig string
	}{RootView: view, URL: e.url}
	for name := range files {
		switch path.Ext(name) {
		case ".cab":
			v.RootCAB = name
		case ".crt":
			v.RootCRT = name
		case ".mobileconfig":
			v.Mobileconfig = name
		}
	}
	e.page(w, func(b *bytes.Buffer) error {
		pages, err := e.landing()
		if err != nil {
			return err
		}
		return pages.Render(b, v)
	})
}

func (e *site) serveLandingQR(w http.ResponseWriter, r *http.Request) {
	png, err := provision.QRPNG(e.url)
	if err != nil {
		e.log.Error("enrollment: landing page QR code", "url", e.url, "err", err)
		http.Error(w, "no QR code for this site's address; see the server log", http.StatusInternalServerError)
		return
	}
	e.download(w, "qr.png", png)
}

// link resolves the request's token, answering 404 or 410 itself.
func (e *site) link(w http.ResponseWriter, r *http.Request) (Link, bool) {
	w.Header().Set("Cache-Control", "no-store")
	l, err := e.links.lookup(r.PathValue("token"), time.Now())
	switch {
	case errors.Is(err, errNoLink):
		pageSecurity(w)
		http.Error(w, "This enrollment link does not exist. Check that it was typed or scanned completely, or ask your IT department for a new one. The root certificate alone is on this site's home page.", http.StatusNotFound)
		return Link{}, false
	case errors.Is(err, errLinkExpired):
		pageSecurity(w)
		http.Error(w, fmt.Sprintf("This enrollment link expired on %s. Ask your IT department for a new one. The root certificate alone is on this site's home page.", l.Expires.UTC().Format("2006-01-02 15:04 MST")), http.StatusGone)
		return Link{}, false
	case errors.Is(err, errLinkRevoked):
		pageSecurity(w)
		http.Error(w, fmt.Sprintf("This enrollment link was withdrawn on %s. Ask your IT department for a new one if you still need it. The root certificate alone is on this site's home page.", l.Revoked.UTC().Format("2006-01-02 15:04 MST")), http.StatusGone)
		return Link{}, false
	case err != nil:
		e.log.Error("enrollment links", "err", err)
		http.Error(w, "enrollment links are unavailable; see the server log", http.StatusInternalServerError)
		return Link{}, false
	}
	return l, true
}

// userPage builds the link's sheet and files as `pushca bundle` does, from
// the account details the link holds, unsigned (the server has no signer).
func (e *site) userPage(w http.ResponseWriter, r *http.Request) (sheet []byte, files map[string][]byte, ok bool) {
	l, ok := e.link(w, r)
	if !ok {
		return nil, nil, false
	}
	cs, ok := e.chains(w)
	if !ok {
		return nil, nil, false
	}
	b := provision.Bundle{
		Chains: cs, Server: l.Server, Domain: l.Domain, Devices: l.Devices,
		URL: func(provision.User) (string, time.Time, error) { return l.URL, l.Expires, nil },
	}
	u := provision.User{Name: l.User, Email: l.Email, DisplayName: l.DisplayName, Devices: l.Devices}
	// The page is at /u/TOKEN/, the root files at the top.
	sheet, files, err := b.UserPage(u, func(name string) string { return "../../" + name })
	if err != nil {
		e.log.Error("enrollment page", "user", l.User, "err", err)
		http.Error(w, "this enrollment page cannot be built; see the server log", http.StatusInternalServerError)
		return nil, nil, false
	}
	return sheet, files, true
}

func (e *site) serveUserPage(w http.ResponseWriter, r *http.Request) {
	if sheet, _, ok := e.userPage(w, r); ok {
		e.page(w, func(b *bytes.Buffer) error { _, err := b.Write(sheet); return err })
	}
}

func (e *site) serveUserFile(w http.ResponseWriter, r *http.Request) {
	_, files, ok := e.userPage(w, r)
	if !ok {
		return
	}
	name := r.PathValue("file")
	e.download(w, name, files[name])
}

// page renders into a buffer first, so a failed render is a clean 500
// rather than half a page.
func (e *site) page(w http.ResponseWriter, render func(*bytes.Buffer) error) {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		e.log.Error("enrollment page", "err", err)
		http.Error(w, "this page cannot be shown; see the server log", http.StatusInternalServerError)
		return
	}
	pageSecurity(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

func (e *site) download(w http.ResponseWriter, name string, data []byte) {
	typ, ok := downloadTypes[path.Ext(name)]
	if !ok || data == nil {
		pageSecurity(w)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	pageSecurity(w)
	w.Header().Set("Content-Type", typ)
	if typ != "image/png" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	}
	w.Write(data)
}
