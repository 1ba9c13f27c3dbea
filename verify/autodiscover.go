package verify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pushca/pushca/eas"
)

// Discovery says how RunAutodiscover reaches the network.
type Discovery struct {
	// Resolve redirects connections (--resolve).
	Resolve Resolve
	// LookupSRV finds the SRV records of a name; nil means the system
	// resolver.
	LookupSRV func(ctx context.Context, name string) ([]*net.SRV, error)
}

// maxAutodiscoverRedirects bounds Action/Redirect hops, as Outlook does.
const maxAutodiscoverRedirects = 10

// RunAutodiscover finds the ActiveSync server of email the way a device
// does ([MS-OXDISCO] 3.1.5; [MS-ASCMD] 2.2.1.1), reporting each step as
// the Remote Connectivity Analyzer would: POST to https://DOMAIN/, then
// https://autodiscover.DOMAIN/, then the redirect a GET on
// http://autodiscover.DOMAIN/ gives, then the SRV record
// _autodiscover._tcp.DOMAIN. With the URL found it runs Run; opt.URL is
// ignored, and opt.Login defaults to email, as devices log in with it.
func RunAutodiscover(ctx context.Context, email string, opt Options, d Discovery) (*Report, error) {
	if _, domain, ok := strings.Cut(email, "@"); !ok || domain == "" {
		return nil, fmt.Errorf("--autodiscover %q: give an e-mail address, NAME@DOMAIN", email)
	}
	if opt.Login == "" {
		opt.Login = email
	}
	if d.LookupSRV == nil {
		d.LookupSRV = func(ctx context.Context, name string) ([]*net.SRV, error) {
			_, recs, err := net.DefaultResolver.LookupSRV(ctx, "", "", name)
			return recs, err
		}
	}
	started := time.Now().UTC()
	w := &walker{opt: opt, d: d, ended: ctx.Err, secure: d.client(opt.Roots, true), plain: d.client(nil, false)}
	found := w.walk(ctx, email)
	if found == "" || ctx.Err() != nil {
		// No server to name: the report is about the address.
		r := &Report{URL: email, Profile: opt.Profile.Name, Started: started, Checks: w.checks}
		if ctx.Err() != nil {
			r.Interrupted = true
			return r, fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(ctx))
		}
		return r, nil
	}
	u, _ := url.Parse(found)
	opt.URL = "https://" + u.Host
	if t := d.Resolve.target(hostPort(u)); t != hostPort(u) {
		opt.Connect = t
	}
	r, err := Run(ctx, opt)
	if r != nil {
		r.Checks = append(w.checks, r.Checks...)
	}
	return r, err
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// client makes Autodiscover's connections: one per request, through
// Resolve, never following a redirect by itself (each is a step to
// report). secure: HTTPS trusting roots (none: the system's).
func (d Discovery) client(roots []*x509.Certificate, secure bool) *http.Client {
	t := &http.Transport{DialContext: d.Resolve.dial, TLSHandshakeTimeout: handshakeTimeout, DisableKeepAlives: true}
	if secure && len(roots) > 0 {
		pool := x509.NewCertPool()
		for _, r := range roots {
			pool.AddCert(r)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// walker is one search: its checks, in the order the steps ran.
type walker struct {
	opt           Options
	d             Discovery
	ended         func() error
	secure, plain *http.Client
	checks        []Check
}

func (w *walker) add(name string, v Verdict, detail, do string) {
	if w.ended() != nil {
		return
	}
	if v == Pass {
		do = ""
	}
	w.checks = append(w.checks, Check{Name: name, Verdict: v, Detail: detail, Do: do})
}

// outcome of one step: found a URL, a new address to search for, a
// definite answer that ends the search, or nothing (go on).
type outcome struct {
	url, redirect string
	stop          bool
}

// walk returns the MobileSync URL, or "" when no step gave one (the
// reason is a check).
func (w *walker) walk(ctx context.Context, email string) string {
	for range maxAutodiscoverRedirects + 1 {
		domain := strings.ToLower(email[strings.LastIndexByte(email, '@')+1:])
		o := w.search(ctx, email, domain)
		switch {
		case o.url != "":
			w.add("autodiscover", Pass, fmt.Sprintf("%s is served at %s", email, o.url), "")
			return o.url
		case o.redirect != "":
			email = o.redirect
			continue
		case !o.stop:
			w.add("autodiscover", Fail, "no step of the search found the ActiveSync server of "+email,
				"publish Autodiscover where devices look: https://autodiscover."+domain+eas.AutodiscoverPath+
					" (a certificate naming autodiscover."+domain+"), or the SRV record _autodiscover._tcp."+domain)
		}
		return ""
	}
	w.add("autodiscover", Fail, fmt.Sprintf("more than %d Autodiscover redirects between addresses", maxAutodiscoverRedirects), "fix the redirect loop in the Autodiscover answers")
	return ""
}

func (w *walker) search(ctx context.Context, email, domain string) outcome {
	for i, u := range []string{"https://" + domain + eas.AutodiscoverPath, "https://autodiscover." + domain + eas.AutodiscoverPath} {
		if o := w.post(ctx, fmt.Sprintf("autodiscover step %d", i+1), email, u); o != (outcome{}) {
			return o
		}
	}
	if u := w.httpRedirect(ctx, domain); u != "" {
		if o := w.post(ctx, "autodiscover step 3", email, u); o != (outcome{}) {
			return o
		}
	}
	if u := w.srv(ctx, domain); u != "" {
		return w.post(ctx, "autodiscover step 4", email, u)
	}
	return outcome{}
}

// post asks target about email, as a device does, with its credentials:
// sent only over a connection whose certificate was accepted.
func (w *walker) post(ctx context.Context, step, email, target string) outcome {
	name := step + " " + target
	body, err := (&eas.AutodiscoverRequest{EMailAddress: email, AcceptableResponseSchema: eas.MobileSyncResponseSchema}).Marshal()
	if err != nil {
		w.add(name, Fail, err.Error(), "")
		return outcome{stop: true}
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		w.add(name, Fail, err.Error(), "")
		return outcome{stop: true}
	}
	req.Header.Set("Content-Type", eas.AutodiscoverContentType)
	req.Header.Set("Authorization", eas.BasicAuth(w.opt.Login, w.opt.Password))
	resp, err := w.secure.Do(req)
	if err != nil {
		if w.ended() != nil {
			return outcome{stop: true}
		}
		v, detail, do := connectFailure(err)
		w.add(name, v, detail, do)
		return outcome{}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, eas.MaxAutodiscoverSize+1))
	if err != nil {
		w.add(name, Warn, "reading the answer: "+err.Error(), "")
		return outcome{}
	}
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		w.add(name, Warn, "HTTP 401: the server refused "+w.opt.Login+"'s credentials here", "check --user and the password; devices ask the user again at this step")
		return outcome{}
	case code >= 300 && code < 400:
		w.add(name, Warn, fmt.Sprintf("HTTP %d to %s in answer to the POST; devices take redirects only from the GET on plain HTTP", code, resp.Header.Get("Location")), "answer the POST here, or stop redirecting it")
		return outcome{}
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		w.add(name, Pass, fmt.Sprintf("no Autodiscover here (HTTP %d); devices go on", code), "")
		return outcome{}
	case code != http.StatusOK:
		w.add(name, Warn, fmt.Sprintf("HTTP %d", code), "devices give up or go on here; answer Autodiscover or nothing")
		return outcome{}
	}
	return w.answer(name, email, data)
}

func (w *walker) answer(name, email string, data []byte) outcome {
	r, err := eas.ParseAutodiscoverResponse(data)
	var ae *eas.AutodiscoverError
	switch {
	case errors.As(err, &ae):
		w.add(name, Fail, "the server answers with Autodiscover error "+fmt.Sprint(ae.ErrorCode)+": "+ae.Message,
			"the server has no provider of the mobilesync schema ([MS-ASCMD] 2.2.3.64: 601) or read the request as malformed (600)")
		return outcome{stop: true}
	case err != nil:
		w.add(name, Warn, "HTTP 200 without an Autodiscover answer: "+err.Error(), "serve Autodiscover here, or nothing")
		return outcome{}
	case r.Error != nil:
		w.add(name, Fail, fmt.Sprintf("the server answers for %s with an error: status %d, %s", email, r.Error.Status, r.Error.Message),
			"check that the address is the user's on that server (pushca serve: NAME@--mail-domain)")
		return outcome{stop: true}
	case r.URL != "":
		u, err := url.Parse(r.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			w.add(name, Fail, fmt.Sprintf("MobileSync URL %q is not https://HOST[:PORT]/...", r.URL), "announce the HTTPS URL devices use")
			return outcome{stop: true}
		}
		if !strings.EqualFold(u.Path, eas.Path) {
			w.add(name, Warn, fmt.Sprintf("MobileSync URL %s: the path is not %s, which pushca verify speaks", r.URL, eas.Path), "")
		}
		w.add(name, Pass, "MobileSync URL "+r.URL, "")
		return outcome{url: r.URL}
	}
	w.add(name, Pass, fmt.Sprintf("%s is redirected to the address %s", email, r.Redirect), "")
	return outcome{redirect: r.Redirect}
}

// connectFailure judges a step that got no HTTP answer: nothing there is
// normal (devices go on); a certificate the device refuses is not, since
// devices may stop and show it to the user.
func connectFailure(err error) (Verdict, string, string) {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &certErr):
		return Warn, "certificate not accepted: " + certErr.Err.Error(), "devices may stop here with a certificate warning: serve no HTTPS on this name, or one whose certificate names it and chains to a root the devices trust"
	case errors.As(err, &dnsErr):
		return Pass, "the name does not resolve (" + dnsErr.Err + "); devices go on", ""
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return Pass, "nothing answers (" + opErr.Err.Error() + "); devices go on", ""
	}
	return Warn, err.Error(), "devices lose time or stop here: answer HTTPS properly on this name, or nothing"
}

// httpRedirect is step 3: an unauthenticated GET on plain HTTP whose
// redirect names an HTTPS URL to POST to.
func (w *walker) httpRedirect(ctx context.Context, domain string) string {
	target := "http://autodiscover." + domain + eas.AutodiscoverPath
	name := "autodiscover step 3 " + target
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		w.add(name, Fail, err.Error(), "")
		return ""
	}
	resp, err := w.plain.Do(req)
	if err != nil {
		if w.ended() == nil {
			v, detail, do := connectFailure(err)
			w.add(name, v, detail, do)
		}
		return ""
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		w.add(name, Pass, fmt.Sprintf("no redirect (HTTP %d); devices go on", resp.StatusCode), "")
		return ""
	}
	loc, err := resp.Location()
	if err != nil || loc.Scheme != "https" {
		w.add(name, Warn, fmt.Sprintf("HTTP %d to %q, not an https URL; devices send no password there", resp.StatusCode, resp.Header.Get("Location")), "redirect to https://...")
		return ""
	}
	if !inDomain(loc.Hostname(), domain) {
		w.add(name, Warn, "redirects to "+loc.String()+", outside "+domain+": devices ask the user before following it, and pushca verify sends no password there",
			"redirect to a name in "+domain)
		return ""
	}
	w.add(name, Pass, "redirects to "+loc.String()+" (devices ask the user before following it)", "")
	return loc.String()
}

// inDomain: host is domain or a name under it, where a device's password
// may go without asking. A redirect or SRV record elsewhere came from a
// plain-HTTP answer or DNS, which anyone on the path can forge.
func inDomain(host, domain string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// srv is step 4: the SRV record's host and port.
func (w *walker) srv(ctx context.Context, domain string) string {
	name := "autodiscover step 4 SRV _autodiscover._tcp." + domain
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	recs, err := w.d.LookupSRV(ctx, "_autodiscover._tcp."+domain)
	if err != nil || len(recs) == 0 {
		if w.ended() == nil {
			w.add(name, Pass, fmt.Sprintf("no record (%v)", err), "")
		}
		return ""
	}
	host := strings.TrimSuffix(recs[0].Target, ".")
	u := "https://" + net.JoinHostPort(host, fmt.Sprint(recs[0].Port)) + eas.AutodiscoverPath
	if !inDomain(host, domain) {
		w.add(name, Warn, "points to "+u+", outside "+domain+": devices ask the user first, and pushca verify sends no password there", "point the record at a name in "+domain)
		return ""
	}
	w.add(name, Pass, "points to "+u, "")
	return u
}
