package push

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/state"
)

// Every request the endpoint refuses or cannot serve is one line at info,
// so an operator sees why a device gets nowhere without debug logging:
// the command, the device, the user (never a password), the HTTP status,
// the EAS status when the answer carries one, and the reason.

// refusal is one such line.
type refusal struct {
	cmd, device, user, version string
	http, eas                  int
	reason                     string
}

func (h *activeSync) logRefusal(r refusal) {
	logRefusal(h.log, r)
}

// logRefusal: "request refused" when the HTTP status says no, "command
// failed" when the answer is a 200 whose body says no (or leaves a part
// out).
func logRefusal(log *slog.Logger, r refusal) {
	msg := "request refused"
	if r.http == http.StatusOK {
		msg = "command failed"
	}
	attrs := []any{"command", r.cmd, "device", r.device, "user", r.user, "http_status", r.http}
	if r.eas != 0 {
		attrs = append(attrs, "eas_status", r.eas)
	}
	if r.version != "" {
		attrs = append(attrs, "version", r.version)
	}
	log.Info(msg, append(attrs, "reason", r.reason)...)
}

// refuse answers a request that never became a command (no valid query,
// version or user) and logs it with what its query says.
func (h *activeSync) refuse(w http.ResponseWriter, r *http.Request, user string, code int, reason string) {
	cmd, device := queryWords(r)
	h.logRefusal(refusal{cmd: cmd, device: device, user: user, version: r.Header.Get(eas.HeaderProtocolVersion), http: code, reason: reason})
	http.Error(w, reason, code)
}

// queryWords are the command and device of a request whose query may not
// parse: a plain query's parameters, else what a base64 query says, else
// nothing. Both are cut short, since they came from anyone.
func queryWords(r *http.Request) (cmd, device string) {
	if q, err := eas.ParseRequest(r); err == nil {
		return q.Cmd, q.DeviceID
	}
	v := r.URL.Query()
	return truncateForLog(v.Get("Cmd")), truncateForLog(v.Get("DeviceId"))
}

// loginOf is the user name in a request's credentials, normalized, or ""
// (the password is never looked at).
func loginOf(r *http.Request) string {
	creds, err := eas.ParseBasicAuth(r.Header.Get("Authorization"))
	if err != nil {
		return ""
	}
	user, err := state.NormalizeUser(creds.User)
	if err != nil {
		return ""
	}
	return user
}

var errNoPolicy = errors.New("Provision names no Policy")

// truncateForLog keeps what a client chose short in a log line.
func truncateForLog(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// statusRecorder remembers the status another handler wrote, so a refusal
// made there (Auth) is logged here with it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// refusePlainActiveSync refuses ActiveSync on the plain-HTTP listener, and
// logs it: a device set up without SSL, which may just have sent a password
// in the clear. The Authorization header is never looked at there, so
// credentials sent in the clear go no further, and the line names no user.
func refusePlainActiveSync(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.URL.Path, ActiveSyncPath) {
			next.ServeHTTP(w, r)
			return
		}
		cmd, device := queryWords(r)
		logRefusal(log, refusal{cmd: cmd, device: device, http: http.StatusForbidden,
			reason: "ActiveSync on plain HTTP: the device is not set up for SSL"})
		http.Error(w, "ActiveSync is served over HTTPS only: configure the device for SSL and install the root certificate from this site's home page first. If the device just sent a password here in the clear, change it.", http.StatusForbidden)
	})
}
