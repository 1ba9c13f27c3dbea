package push

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/pushca/pushca/eas"
)

// command runs one POSTed ActiveSync command for an authenticated user.
func (h *activeSync) command(w http.ResponseWriter, r *http.Request, user string) {
	q, err := eas.ParseRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !supportedVersion(q.Version) {
		http.Error(w, "protocol version "+q.Version+" is not served; see MS-ASProtocolVersions", http.StatusBadRequest)
		return
	}
	if q.User != "" {
		if qu, err := NormalizeUser(q.User); err != nil || qu != user {
			http.Error(w, "the query's User is not the authenticated user", http.StatusForbidden)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "request body: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	// What the request says about the device is an observation, written
	// behind; protocol state below (policy and sync keys) is written
	// through before the device hears the answer.
	dev := h.devices.Note(user, q.DeviceID, func(d *Device) {
		d.Type, d.Protocol, d.UserAgent = q.DeviceType, q.Version, r.UserAgent()
		if ch := handshakeChain(r.Context()); ch != nil {
			d.Cert, d.Family = ch.cert.Leaf.SerialNumber.String(), ch.family.Name
		}
	})
	c := &call{h: h, w: w, r: r, q: q, user: user, dev: dev, body: body}
	switch q.Cmd {
	case "Provision":
		c.provision()
		return
	case "Ping", "FolderSync", "GetItemEstimate", "Sync", "Settings":
	default:
		http.Error(w, q.Cmd+" is not implemented by this test endpoint", http.StatusNotImplemented)
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
	dev  Device
	body []byte
}

func (h *activeSync) serverError(w http.ResponseWriter, err error) {
	h.log.Error("ActiveSync command", "err", err)
	http.Error(w, "server error", http.StatusInternalServerError)
}

// reply writes m. The write deadline starts only now: a Ping may have been
// held for most of an hour before it.
func (c *call) reply(m eas.Message) {
	data, err := eas.Marshal(m)
	if err != nil {
		c.h.serverError(c.w, err)
		return
	}
	http.NewResponseController(c.w).SetWriteDeadline(time.Now().Add(writeSlack))
	c.w.Header().Set("Content-Type", eas.ContentType)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	c.w.Write(data)
	// Out now: net/http would hold a small answer in its buffer until the
	// handler returns, and a Ping's handler still records the Ping on disk
	// after answering, so every push would wait for that write.
	http.NewResponseController(c.w).Flush()
}

func (c *call) update(fn func(*Device)) bool {
	dev, err := c.h.devices.Update(c.user, c.q.DeviceID, fn)
	if err != nil {
		c.h.serverError(c.w, err)
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

// statusElements name each command's root and top-level Status, where 14.0+
// devices expect the provisioning statuses that replace HTTP 449.
var statusElements = map[string][2]string{
	"Ping":            {"Ping:Ping", "Ping:Status"},
	"FolderSync":      {"FolderHierarchy:FolderSync", "FolderHierarchy:Status"},
	"GetItemEstimate": {"GetItemEstimate:GetItemEstimate", "GetItemEstimate:Status"},
	"Sync":            {"AirSync:Sync", "AirSync:Status"},
	"Settings":        {"Settings:Settings", "Settings:Status"},
}

func (c *call) needProvision() {
	if c.q.Version == "2.5" || c.q.Version == "12.0" || c.q.Version == "12.1" {
		http.Error(c.w, "provision first", 449)
		return
	}
	status := eas.StatusDeviceNotProvisioned
	if c.q.HasPolicyKey && c.q.PolicyKey != 0 {
		status = eas.StatusInvalidPolicyKey
	}
	tags := statusElements[c.q.Cmd]
	data, err := eas.Encode(eas.NewElement(tags[0], eas.TextElement(tags[1], strconv.Itoa(status))))
	if err != nil {
		c.h.serverError(c.w, err)
		return
	}
	c.w.Header().Set("Content-Type", eas.ContentType)
	c.w.Write(data)
}

// wapPolicy asks a 2.5 device for nothing: no PIN (4131=1), unsigned
// applications allowed (4133=1), as Exchange's "no policy" does.
const wapPolicy = `<wap-provisioningdoc><characteristic type="SecurityPolicy"><parm name="4131" value="1"/><parm name="4133" value="1"/></characteristic></wap-provisioningdoc>`

// noPolicy is the 12.0+ equivalent: nothing required of the device.
func noPolicy() *eas.EASProvisionDoc {
	return &eas.EASProvisionDoc{AttachmentsEnabled: true, AllowSimpleDevicePassword: true}
}

func newPolicyKey() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if k := binary.LittleEndian.Uint32(b[:]); k != 0 {
			return k
		}
	}
}

// provision runs either phase: a policy request gets a temporary key and
// the policy; an acknowledgement of that key gets the final one.
func (c *call) provision() {
	req, err := eas.ParseProvisionRequest(c.body)
	if err != nil || len(req.Policies) == 0 {
		c.reply(&eas.ProvisionResponse{Status: eas.ProvisionProtocolError})
		return
	}
	resp := &eas.ProvisionResponse{Status: eas.ProvisionOK}
	if di := req.DeviceInformation; di != nil {
		resp.DeviceInformationStatus = eas.SettingsOK
		if !c.update(func(d *Device) { d.Model, d.OS = di.Model, di.OS }) {
			return
		}
	}
	if ack, ok := req.Acknowledgement(); ok {
		p := eas.Policy{PolicyType: ack.PolicyType, Status: eas.PolicyOK}
		if ack.PolicyKey != c.dev.PendingPolicyKey || c.dev.PendingPolicyKey == 0 {
			p.Status = eas.PolicyWrongKey
		} else {
			final := newPolicyKey()
			if !c.update(func(d *Device) { d.PolicyKey, d.PendingPolicyKey = final, 0 }) {
				return
			}
			p.PolicyKey = final
			c.h.log.Info("device provisioned", "user", c.user, "device", c.q.DeviceID, "type", c.q.DeviceType, "version", c.q.Version)
		}
		resp.Policies = []eas.Policy{p}
		c.reply(resp)
		return
	}
	ptype := req.Policies[0].PolicyType
	p := eas.Policy{PolicyType: ptype, Status: eas.PolicyOK}
	switch ptype {
	case eas.PolicyTypeWAP:
		p.Data = &eas.PolicyData{WAP: wapPolicy}
	case eas.PolicyTypeWBXML:
		p.Data = &eas.PolicyData{EASProvisionDoc: noPolicy()}
	default:
		p.Status = eas.PolicyUnknownType
		resp.Policies = []eas.Policy{p}
		c.reply(resp)
		return
	}
	temporary := newPolicyKey()
	if !c.update(func(d *Device) { d.PendingPolicyKey = temporary }) {
		return
	}
	p.PolicyKey = temporary
	resp.Policies = []eas.Policy{p}
	c.reply(resp)
}

func (c *call) ping() {
	req, err := eas.ParsePingRequest(c.body)
	if err != nil {
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
		c.reply(&eas.PingResponse{Status: eas.PingServerError})
		return
	}
	held := c.h.hub.Hold(c.user, c.q.DeviceID, PingRequest{Heartbeat: req.HeartbeatInterval, Folders: folders}, func(res PingResult) {
		conn.answer(&eas.PingResponse{Status: res.Status, Folders: res.Folders, HeartbeatInterval: res.Heartbeat, MaxFolders: res.MaxFolders})
	})
	conn.watch(held)
}

// The hierarchy never changes, so one key names it.
const folderSyncKey = "1"

func (c *call) folderSync() {
	req, err := eas.ParseFolderSyncRequest(c.body)
	if err != nil {
		c.reply(&eas.FolderSyncResponse{Status: eas.FolderSyncMalformed})
		return
	}
	switch req.SyncKey {
	case eas.InitialSyncKey:
		if !c.update(func(d *Device) { d.FolderSyncKey = folderSyncKey }) {
			return
		}
		ch := &eas.FolderChanges{}
		for _, f := range Folders() {
			ch.Add = append(ch.Add, eas.Folder{ServerID: f.ID, ParentID: "0", DisplayName: f.Name, Type: f.Type})
		}
		ch.Count = len(ch.Add)
		c.reply(&eas.FolderSyncResponse{Status: eas.FolderSyncOK, SyncKey: folderSyncKey, Changes: ch})
	case c.dev.FolderSyncKey:
		c.reply(&eas.FolderSyncResponse{Status: eas.FolderSyncOK, SyncKey: folderSyncKey, Changes: &eas.FolderChanges{}})
	default:
		c.reply(&eas.FolderSyncResponse{Status: eas.FolderSyncInvalidKey})
	}
}

// legacyClass says whether the version still names collections by Class.
func legacyClass(version string) bool {
	return version == "2.5" || version == "12.0" || version == "12.1"
}

func folderClass(id string) string {
	for _, f := range Folders() {
		if f.ID == id {
			return f.Class
		}
	}
	return ""
}

func (c *call) getItemEstimate() {
	req, err := eas.ParseGetItemEstimateRequest(c.body)
	if err != nil {
		http.Error(c.w, err.Error(), http.StatusBadRequest)
		return
	}
	resp := &eas.GetItemEstimateResponse{}
	for _, col := range req.Collections {
		st, primed := c.dev.Sync[col.CollectionID]
		r := eas.EstimateResponse{Status: eas.EstimateOK}
		switch {
		case !isFolder(col.CollectionID):
			r.Status = eas.EstimateInvalidCollection
		case !primed || col.SyncKey == eas.InitialSyncKey:
			r.Status = eas.EstimateNotPrimed
		case col.SyncKey != st.Key:
			r.Status = eas.EstimateInvalidSyncKey
		default:
			items, _ := c.h.hub.Since(c.user, col.CollectionID, st.Seq)
			r.Collection = &eas.EstimateResult{CollectionID: col.CollectionID, Estimate: len(items)}
			if legacyClass(c.q.Version) {
				r.Collection.Class = folderClass(col.CollectionID)
			}
		}
		resp.Responses = append(resp.Responses, r)
	}
	c.reply(resp)
}

// Sync windows: the device's WindowSize, bounded.
const (
	defaultWindow = 100
	maxWindow     = 512
)

func (c *call) sync() {
	req, err := eas.ParseSyncRequest(c.body)
	if err != nil {
		c.reply(&eas.SyncResponse{Status: eas.SyncProtocolError})
		return
	}
	if len(req.Collections) == 0 {
		// An empty Sync repeats the last one, which is not kept here.
		c.reply(&eas.SyncResponse{Status: eas.SyncIncompleteRequest})
		return
	}
	resp := &eas.SyncResponse{}
	states := map[string]SyncState{}
	for _, col := range req.Collections {
		r, st := c.syncCollection(req, col)
		if st != nil {
			states[col.CollectionID] = *st
		}
		resp.Collections = append(resp.Collections, r)
	}
	if !c.update(func(d *Device) {
		if d.Sync == nil {
			d.Sync = map[string]SyncState{}
		}
		for id, st := range states {
			d.Sync[id] = st
		}
	}) {
		return
	}
	c.reply(resp)
}

// syncCollection answers one collection and returns its new state (nil
// when the device's state does not move).
func (c *call) syncCollection(req *eas.SyncRequest, col eas.SyncCollection) (eas.SyncCollectionResponse, *SyncState) {
	r := eas.SyncCollectionResponse{CollectionID: col.CollectionID, SyncKey: col.SyncKey, Status: eas.SyncOK}
	if legacyClass(c.q.Version) {
		r.Class = folderClass(col.CollectionID)
	}
	if !isFolder(col.CollectionID) {
		r.Status = eas.SyncObjectNotFound
		return r, nil
	}
	old, known := c.dev.Sync[col.CollectionID]
	next := func(seq uint64) *SyncState {
		n, _ := strconv.ParseUint(old.Key, 10, 64)
		return &SyncState{Key: strconv.FormatUint(n+1, 10), Seq: seq}
	}
	if col.SyncKey == eas.InitialSyncKey {
		// Priming: a key and no items; everything in the folder is new to
		// the device.
		st := next(0)
		r.SyncKey = st.Key
		return r, st
	}
	if !known || col.SyncKey != old.Key {
		r.Status = eas.SyncInvalidSyncKey
		return r, nil
	}
	if col.GetChanges != nil && !*col.GetChanges {
		return r, nil
	}
	window := col.WindowSize
	if window == 0 {
		window = req.WindowSize
	}
	if window <= 0 {
		window = defaultWindow
	}
	window = min(window, maxWindow)
	items, seq := c.h.hub.Since(c.user, col.CollectionID, old.Seq)
	if len(items) > window {
		items, seq, r.MoreAvailable = items[:window], items[window-1].Seq, true
	}
	if len(items) > 0 {
		r.Commands = &eas.SyncCommands{}
		for _, m := range items {
			e, err := c.email(m, col.Options)
			if err != nil {
				r.Status = eas.SyncServerError
				return r, nil
			}
			r.Commands.Add = append(r.Commands.Add, eas.SyncItem{ServerID: m.ID, ApplicationData: e})
		}
	}
	st := next(seq)
	r.SyncKey = st.Key
	return r, st
}

// email renders a test message with the body tags of the device's version:
// Email:Body for 2.5, AirSyncBase:Body from 12.0.
func (c *call) email(m Message, opts *eas.SyncOptions) (*eas.Email, error) {
	read := false
	normal := 1
	e := &eas.Email{
		To: m.To, From: m.From, Subject: m.Subject, DateReceived: m.Received,
		DisplayTo: m.To, ThreadTopic: m.Subject, Importance: &normal, Read: &read,
		MessageClass: eas.MessageClassNote,
	}
	// The test message is plain text only; a device asking for HTML or MIME
	// gets it as it is, which [MS-ASAIRS] allows.
	limit := 0
	if opts != nil && len(opts.BodyPreference) > 0 {
		limit = opts.BodyPreference[0].TruncationSize
	}
	if c.q.Version != "2.5" {
		e.InternetCPID = "65001"
	}
	if err := e.SetBody(c.q.Version, eas.BodyPlain, m.Body, limit); err != nil {
		return nil, fmt.Errorf("render message %s: %w", m.ID, err)
	}
	return e, nil
}

func (c *call) settings() {
	req, err := eas.ParseSettingsRequest(c.body)
	if err != nil {
		c.reply(&eas.SettingsResponse{Status: eas.SettingsProtocolError})
		return
	}
	resp := &eas.SettingsResponse{Status: eas.SettingsOK}
	if di := req.DeviceInformation; di != nil {
		if !c.update(func(d *Device) { d.Model, d.OS = di.Model, di.OS }) {
			return
		}
		resp.DeviceInformationStatus = eas.SettingsOK
	}
	c.reply(resp)
}
