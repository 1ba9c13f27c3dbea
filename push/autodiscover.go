package push

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pushca/pushca/eas"
)

// autodiscoverCulture is the only culture the answers are written in.
const autodiscoverCulture = "en:us"

// autodiscover answers a device's POX Autodiscover request ([MS-ASCMD]
// 2.2.1.1) over TLS, for a logged-in user asking about one of their own
// addresses: the MobileSync URL of this server, as configured. Asking about
// someone else's address gets the same Error as an address nobody has, so
// an account cannot list the others.
func (h *activeSync) autodiscover(w http.ResponseWriter, r *http.Request) {
	const cmd = "Autodiscover"
	refuse := func(user string, code int, reason string) {
		h.logRefusal(refusal{cmd: cmd, user: user, http: code, reason: reason})
		http.Error(w, reason, code)
	}
	if r.TLS == nil {
		refuse("", http.StatusForbidden, "Autodiscover is served over HTTPS only")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse("", http.StatusMethodNotAllowed, "Autodiscover takes POST, not "+truncateForLog(r.Method))
		return
	}
	user, ok := h.authenticate(w, r, cmd)
	if !ok {
		return
	}
	received := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, eas.MaxAutodiscoverSize))
	if err != nil {
		refuse(user, http.StatusRequestEntityTooLarge, "request body: "+err.Error())
		return
	}
	fail := func(code int, message, reason string) {
		h.logRefusal(refusal{cmd: cmd, user: user, http: http.StatusOK, eas: code, reason: reason})
		data, err := eas.MarshalAutodiscoverFailure(code, message, received)
		h.writeAutodiscover(w, data, err)
	}
	req, err := eas.ParseAutodiscoverRequest(body)
	if err != nil {
		fail(eas.AutodiscoverInvalidRequest, "Invalid Request", err.Error())
		return
	}
	// [MS-ASCMD] 2.2.3.64: no provider for another schema (Outlook's, say).
	if req.AcceptableResponseSchema != eas.MobileSyncResponseSchema {
		fail(eas.AutodiscoverSchemaUnavailable, "Provider is not available for the requested schema",
			"AcceptableResponseSchema "+strconv.Quote(truncateForLog(req.AcceptableResponseSchema))+" is not the mobilesync response schema")
		return
	}
	resp := &eas.AutodiscoverResponse{Culture: autodiscoverCulture, EMailAddress: req.EMailAddress}
	switch {
	case !h.site.owns(user, req.EMailAddress):
		resp.Error = &eas.AutodiscoverError{Status: eas.AutodiscoverProtocolError,
			Message: "The e-mail address is not known to this server", DebugData: "MailUser"}
		h.logRefusal(refusal{cmd: cmd, user: user, http: http.StatusOK, eas: eas.AutodiscoverProtocolError,
			reason: "address " + strconv.Quote(truncateForLog(req.EMailAddress)) + " is not the user's (NAME@" + h.site.mailDomain + ")"})
	case h.site.url == "":
		resp.Error = &eas.AutodiscoverError{Status: eas.AutodiscoverProtocolError, Message: "This server does not know its own URL"}
		h.logRefusal(refusal{cmd: cmd, user: user, http: http.StatusOK, eas: eas.AutodiscoverProtocolError,
			reason: "no server URL configured (serve --url or --host)"})
	default:
		resp.DisplayName, resp.URL = user, h.site.url+ActiveSyncPath
	}
	data, err := resp.Marshal()
	h.writeAutodiscover(w, data, err)
}

func (h *activeSync) writeAutodiscover(w http.ResponseWriter, data []byte, err error) {
	if err != nil {
		h.log.Error("Autodiscover answer", "command", "Autodiscover", "http_status", http.StatusInternalServerError, "err", err)
		http.Error(w, "server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", eas.AutodiscoverContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

// withAutodiscoverRedirect answers the step devices take on plain HTTP
// ([MS-OXDISCO] 3.1.5.4): an unauthenticated GET of the Autodiscover path,
// redirected to this server's HTTPS endpoint. Anything else there is
// refused without reading credentials, which must not travel in the clear.
func withAutodiscoverRedirect(s site, log *slog.Logger, next http.Handler) http.Handler {
	if s.url == "" {
		return next
	}
	target := s.url + eas.AutodiscoverPath
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.URL.Path, eas.AutodiscoverPath) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			reason := "Autodiscover is served over HTTPS only: " + target
			logRefusal(log, refusal{cmd: "Autodiscover", http: http.StatusForbidden, reason: reason})
			http.Error(w, reason, http.StatusForbidden)
			return
		}
		http.Redirect(w, r, target, http.StatusFound)
	})
}
