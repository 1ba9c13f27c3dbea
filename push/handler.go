package push

import (
	"log/slog"
	"net/http"
	"strings"
)

// What OPTIONS advertises. Only commands this endpoint implements are
// listed, so a device does not count on SendMail or Search.
const (
	protocolVersions = "2.5,12.0,12.1,14.0,14.1"
	protocolCommands = "Sync,FolderSync,GetItemEstimate,Ping,Provision,Settings"
	serverVersion    = "14.1"
)

// activeSync serves /Microsoft-Server-ActiveSync over TLS.
type activeSync struct {
	auth    *Auth
	hub     *Hub
	devices *Devices
	bounds  HeartbeatBounds
	// conns serves an answered Ping's hijacked connection again.
	conns *reaccept
	log   *slog.Logger
}

func newActiveSync(users *Users, hub *Hub, devices *Devices, bounds HeartbeatBounds, conns *reaccept, m *metrics, log *slog.Logger) http.Handler {
	auth := NewAuth(users, "pushca ActiveSync", log)
	auth.metrics = m
	h := &activeSync{auth: auth, hub: hub, devices: devices, bounds: bounds, conns: conns, log: log}
	mux := http.NewServeMux()
	mux.Handle(ActiveSyncPath, h)
	return mux
}

func (h *activeSync) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		// Listen wraps this handler in TLS; this guards a future miswiring.
		http.Error(w, "ActiveSync is served over HTTPS only", http.StatusForbidden)
		return
	}
	setActiveSyncHeaders(w.Header())
	switch r.Method {
	case http.MethodOptions, http.MethodPost:
	default:
		w.Header().Set("Allow", "OPTIONS,POST")
		http.Error(w, "ActiveSync takes OPTIONS and POST", http.StatusMethodNotAllowed)
		return
	}
	user, ok := h.auth.Check(w, r)
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
