package push

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// What OPTIONS advertises. Only commands this endpoint implements are
// listed, so a device does not count on SendMail or Search. Autodiscover
// is no command of this list ([MS-ASHTTP] 2.2.4.1.2.1): it has its own path.
const (
	protocolVersions = "2.5,12.0,12.1,14.0,14.1,16.0,16.1"
	protocolCommands = "Sync,FolderSync,GetItemEstimate,Ping,Provision,Settings"
	serverVersion    = "16.1"
)

// ActiveSyncPath is the one path devices use.
const ActiveSyncPath = "/Microsoft-Server-ActiveSync"

// activeSync serves /Microsoft-Server-ActiveSync over TLS.
type activeSync struct {
	auth    *Auth
	hub     *ping.Hub
	devices state.Devices
	mail    state.Mailbox
	bounds  ping.HeartbeatBounds
	// conns serves an answered Ping's hijacked connection again.
	conns *reaccept
	site  site
	log   *slog.Logger
}

func newActiveSync(users *Users, hub *ping.Hub, devices state.Devices, mail state.Mailbox, bounds ping.HeartbeatBounds, conns *reaccept, site site, m *ops.Metrics, log *slog.Logger) http.Handler {
	auth := NewAuth(users, "pushca ActiveSync", log)
	auth.metrics = m
	h := &activeSync{auth: auth, hub: hub, devices: devices, mail: mail, bounds: bounds, conns: conns, site: site, log: log}
	mux := http.NewServeMux()
	mux.Handle(ActiveSyncPath, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Outlook and some devices capitalize the path; Exchange (IIS)
		// does not mind.
		if strings.EqualFold(r.URL.Path, eas.AutodiscoverPath) {
			h.autodiscover(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (h *activeSync) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		// Listen wraps this handler in TLS; this guards a future miswiring.
		h.refuse(w, r, "", http.StatusForbidden, "ActiveSync is served over HTTPS only")
		return
	}
	setActiveSyncHeaders(w.Header())
	switch r.Method {
	case http.MethodOptions, http.MethodPost:
	default:
		w.Header().Set("Allow", "OPTIONS,POST")
		h.refuse(w, r, "", http.StatusMethodNotAllowed, "ActiveSync takes OPTIONS and POST, not "+truncateForLog(r.Method))
		return
	}
	user, ok := h.authenticate(w, r, "")
	if !ok {
		return
	}
	if r.Method == http.MethodOptions {
		h.options(w)
		return
	}
	h.command(w, r, user)
}

// setActiveSyncHeaders sets what every ActiveSync response carries, as
// Exchange sends it.
func setActiveSyncHeaders(h http.Header) {
	h.Set("Cache-Control", "private")
	h["MS-Server-ActiveSync"] = []string{serverVersion}
}

func (h *activeSync) options(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Allow", "OPTIONS,POST")
	hd.Set("Public", "OPTIONS,POST")
	// Set directly, not with Set: Go would send "Ms-Asprotocolversions", and
	// old devices may compare header names with the case Exchange uses.
	hd["MS-ASProtocolVersions"] = []string{protocolVersions}
	hd["MS-ASProtocolCommands"] = []string{protocolCommands}
	w.WriteHeader(http.StatusOK)
}

func supportedVersion(v string) bool {
	for _, s := range strings.Split(protocolVersions, ",") {
		if s == v {
			return true
		}
	}
	return false
}

// authenticate runs Auth, which answers a refused login itself, and logs
// the refusal with the status Auth chose. cmd names the command when the
// query does not ("" for ActiveSync, whose query does).
func (h *activeSync) authenticate(w http.ResponseWriter, r *http.Request, cmd string) (string, bool) {
	rec := &statusRecorder{ResponseWriter: w}
	user, ok := h.auth.Check(rec, r)
	if ok {
		return user, true
	}
	reason := "login failed or malformed credentials"
	switch {
	case rec.status == http.StatusTooManyRequests:
		reason = "login held back after failures or while others are checked"
	case r.Header.Get("Authorization") == "":
		reason = "no credentials: answered with the Basic challenge"
	}
	var device string
	switch {
	case cmd != "":
	case r.Method == http.MethodOptions:
		cmd = "OPTIONS"
	default:
		cmd, device = queryWords(r)
	}
	h.logRefusal(refusal{cmd: cmd, device: device, user: loginOf(r), http: rec.status, reason: reason})
	return "", false
}
