package push

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// command runs one POSTed ActiveSync command for an authenticated user.
func (h *activeSync) command(w http.ResponseWriter, r *http.Request, user string) {
	q, err := eas.ParseRequest(r)
	if err != nil {
		h.refuse(w, r, user, http.StatusBadRequest, err.Error())
		return
	}
	if !supportedVersion(q.Version) {
		h.refuse(w, r, user, http.StatusBadRequest, "protocol version "+q.Version+" is not served; see MS-ASProtocolVersions")
		return
	}
	if q.User != "" {
		if qu, err := state.NormalizeUser(q.User); err != nil || qu != user {
			h.refuse(w, r, user, http.StatusForbidden, "the query's User is not the authenticated user")
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		h.refuse(w, r, user, http.StatusRequestEntityTooLarge, "request body: "+err.Error())
		return
	}
	// What the request says about the device is an observation, written
	// behind; protocol state below (policy and sync keys) is written
	// through before the device hears the answer.
	c := &call{h: h, w: w, r: r, q: q, user: user, body: body}
	c.dev, err = h.devices.Note(r.Context(), user, q.DeviceID, func(d *state.Device) {
		d.Type, d.Protocol, d.UserAgent = q.DeviceType, q.Version, r.UserAgent()
		if ch := handshakeChain(r.Context()); ch != nil {
			d.Cert, d.Family = ch.cert.Leaf.SerialNumber.String(), ch.family.Name
		}
	})
	if err != nil {
		c.serverError(err)
		return
	}
	switch q.Cmd {
	case "Provision":
		c.provision()
		return
	case "Ping", "FolderSync", "GetItemEstimate", "Sync", "Settings":
	default:
		c.refuse(http.StatusNotImplemented, q.Cmd+" is not implemented by this test endpoint")
		return
	}
	if !c.provisioned() {
		c.needProvision()
		return
	}
	switch q.Cmd {
	case "Ping":
		c.ping()
	case "FolderSync":
		c.folderSync()
	case "GetItemEstimate":
		c.getItemEstimate()
	case "Sync":
		c.sync()
	case "Settings":
		c.settings()
	}
}

// call is one command in progress.
type call struct {
	h    *activeSync
	w    http.ResponseWriter
	r    *http.Request
	q    *eas.Request
	user string
	dev  state.Device
	body []byte
}

// refuse answers with an HTTP error and logs why.
func (c *call) refuse(code int, reason string) {
	c.h.logRefusal(refusal{cmd: c.q.Cmd, device: c.q.DeviceID, user: c.user, version: c.q.Version, http: code, reason: reason})
	http.Error(c.w, reason, code)
}

// failed logs a command answered with a status that is not success; the
// caller writes the answer.
func (c *call) failed(status int, reason string) {
	c.h.logRefusal(refusal{cmd: c.q.Cmd, device: c.q.DeviceID, user: c.user, version: c.q.Version, http: http.StatusOK, eas: status, reason: reason})
}

func (c *call) serverError(err error) {
	c.h.log.Error("ActiveSync command failed", "command", c.q.Cmd, "device", c.q.DeviceID, "user", c.user, "http_status", http.StatusInternalServerError, "err", err)
	http.Error(c.w, "server error", http.StatusInternalServerError)
}

// reply writes m. The write deadline starts only now: a Ping may have been
// held for most of an hour before it.
func (c *call) reply(m eas.Message) {
	data, err := eas.Marshal(m)
	if err != nil {
		c.serverError(err)
		return
	}
	c.write(data)
}

func (c *call) write(data []byte) {
	http.NewResponseController(c.w).SetWriteDeadline(time.Now().Add(writeSlack))
	c.w.Header().Set("Content-Type", eas.ContentType)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	c.w.Write(data)
	// Out now: net/http would hold a small answer in its buffer until the
	// handler returns, and a Ping's handler still records the Ping on disk
	// after answering, so every push would wait for that write.
	http.NewResponseController(c.w).Flush()
}

func (c *call) update(fn func(*state.Device)) bool {
	dev, err := c.h.devices.Update(c.r.Context(), c.user, c.q.DeviceID, fn)
	if err != nil {
		c.serverError(err)
		return false
	}
	c.dev = dev
	return true
}

// provisioned: Ping carries no X-MS-PolicyKey, so for it the device record
// decides; every other command must present the acknowledged key.
func (c *call) provisioned() bool {
	if c.dev.PolicyKey == 0 {
		return false
	}
	return c.q.Cmd == "Ping" || c.q.HasPolicyKey && c.q.PolicyKey == c.dev.PolicyKey
}

// needProvision refuses a command of a device without the acknowledged
// policy key: HTTP 449 up to 12.1, from 14.0 the command's own Status.
func (c *call) needProvision() {
	reason := "device not provisioned: run Provision first"
	if c.dev.PolicyKey != 0 {
		reason = "the policy key sent is not the device's acknowledged one"
	}
	if eas.UsesHTTP449(c.q.Version) {
		c.refuse(449, reason)
		return
	}
	status := eas.StatusDeviceNotProvisioned
	if c.q.HasPolicyKey && c.q.PolicyKey != 0 {
		status = eas.StatusInvalidPolicyKey
	}
	data, err := eas.StatusBody(c.q.Cmd, status)
	if err != nil {
		c.serverError(err)
		return
	}
	c.failed(status, reason)
	c.write(data)
}

func (c *call) ping() {
	req, err := eas.ParsePingRequest(c.body)
	if err != nil {
		c.failed(int(eas.PingSyntaxError), err.Error())
		c.reply(&eas.PingResponse{Status: eas.PingSyntaxError})
		return
	}
	var folders []string
	for _, f := range req.Folders {
		folders = append(folders, f.ID)
	}
	// From here the connection leaves net/http: a held Ping keeps no
	// goroutine stack, buffers or background reader of its own.
	conn, err := c.hijack()
	if err != nil {
		c.h.log.Error("Ping", "user", c.user, "device", c.q.DeviceID, "err", err)
		c.failed(int(eas.PingServerError), err.Error())
		c.reply(&eas.PingResponse{Status: eas.PingServerError})
		return
	}
	held := c.h.hub.Hold(c.r.Context(), c.user, c.q.DeviceID, ping.Request{Heartbeat: req.HeartbeatInterval, Folders: folders}, func(res ping.Result) {
		if res.Status != eas.PingExpired && res.Status != eas.PingChanges {
			c.failed(int(res.Status), pingRefusal(res))
		}
		conn.answer(&eas.PingResponse{Status: res.Status, Folders: res.Folders, HeartbeatInterval: res.Heartbeat, MaxFolders: res.MaxFolders})
	})
	conn.watch(held)
}

// pingRefusal says why the hub refused a Ping, with the bound it answered.
func pingRefusal(res ping.Result) string {
	switch res.Status {
	case eas.PingHeartbeatOutOfRange:
		return fmt.Sprintf("%s: the server allows %d s at that end", res.Status, res.Heartbeat)
	case eas.PingTooManyFolders:
		return fmt.Sprintf("%s: at most %d", res.Status, res.MaxFolders)
	}
	return res.Status.String()
}
