package push

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// The hierarchy never changes, so one key names it.
const folderSyncKey = "1"

func (c *call) folderSync() {
	req, err := eas.ParseFolderSyncRequest(c.body)
	if err != nil {
		c.failed(int(eas.FolderSyncMalformed), err.Error())
		c.reply(&eas.FolderSyncResponse{Status: eas.FolderSyncMalformed})
		return
	}
	switch req.SyncKey {
	case eas.InitialSyncKey:
		if !c.update(func(d *state.Device) { d.FolderSyncKey = folderSyncKey }) {
			return
		}
		ch := &eas.FolderChanges{}
		for _, f := range ping.Folders() {
			ch.Add = append(ch.Add, eas.Folder{ServerID: f.ID, ParentID: "0", DisplayName: f.Name, Type: f.Type})
		}
		ch.Count = len(ch.Add)
		c.reply(&eas.FolderSyncResponse{Status: eas.FolderSyncOK, SyncKey: folderSyncKey, Changes: ch})
	case c.dev.FolderSyncKey:
		c.reply(&eas.FolderSyncResponse{Status: eas.FolderSyncOK, SyncKey: folderSyncKey, Changes: &eas.FolderChanges{}})
	default:
		c.failed(int(eas.FolderSyncInvalidKey), "unknown FolderSync SyncKey "+truncateForLog(req.SyncKey))
		c.reply(&eas.FolderSyncResponse{Status: eas.FolderSyncInvalidKey})
	}
}

// legacyClass says whether the version still names collections by Class.
func legacyClass(version string) bool {
	return version == "2.5" || version == "12.0" || version == "12.1"
}

func folderClass(id string) string {
	for _, f := range ping.Folders() {
		if f.ID == id {
			return f.Class
		}
	}
	return ""
}

func (c *call) getItemEstimate() {
	req, err := eas.ParseGetItemEstimateRequest(c.body)
	if err != nil {
		c.refuse(http.StatusBadRequest, err.Error())
		return
	}
	resp := &eas.GetItemEstimateResponse{}
	for _, col := range req.Collections {
		st, primed := c.dev.Sync[col.CollectionID]
		r := eas.EstimateResponse{Status: eas.EstimateOK}
		switch {
		case !ping.IsFolder(col.CollectionID):
			r.Status = eas.EstimateInvalidCollection
		case !primed || col.SyncKey == eas.InitialSyncKey:
			r.Status = eas.EstimateNotPrimed
		case col.SyncKey != st.Key:
			r.Status = eas.EstimateInvalidSyncKey
		default:
			items, _, err := c.h.mail.Since(c.r.Context(), c.user, col.CollectionID, st.Seq)
			if err != nil {
				c.serverError(fmt.Errorf("GetItemEstimate of collection %s: %w", col.CollectionID, err))
				return
			}
			r.Collection = &eas.EstimateResult{CollectionID: col.CollectionID, Estimate: len(items)}
			if legacyClass(c.q.Version) {
				r.Collection.Class = folderClass(col.CollectionID)
			}
		}
		if r.Status != eas.EstimateOK {
			c.failed(int(r.Status), fmt.Sprintf("collection %s: %s", truncateForLog(col.CollectionID), r.Status))
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
		c.failed(int(eas.SyncProtocolError), err.Error())
		c.reply(&eas.SyncResponse{Status: eas.SyncProtocolError})
		return
	}
	if len(req.Collections) == 0 {
		// An empty Sync repeats the last one, which is not kept here.
		c.failed(int(eas.SyncIncompleteRequest), "empty Sync: this endpoint keeps no previous request to repeat")
		c.reply(&eas.SyncResponse{Status: eas.SyncIncompleteRequest})
		return
	}
	resp := &eas.SyncResponse{}
	states := map[string]state.SyncState{}
	for _, col := range req.Collections {
		r, st := c.syncCollection(req, col)
		if st != nil {
			states[col.CollectionID] = *st
		}
		if r.Status != eas.SyncOK {
			c.failed(int(r.Status), fmt.Sprintf("collection %s: %s", truncateForLog(col.CollectionID), r.Status))
		}
		resp.Collections = append(resp.Collections, r)
	}
	if !c.update(func(d *state.Device) {
		if d.Sync == nil {
			d.Sync = map[string]state.SyncState{}
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
func (c *call) syncCollection(req *eas.SyncRequest, col eas.SyncCollection) (eas.SyncCollectionResponse, *state.SyncState) {
	r := eas.SyncCollectionResponse{CollectionID: col.CollectionID, SyncKey: col.SyncKey, Status: eas.SyncOK}
	if legacyClass(c.q.Version) {
		r.Class = folderClass(col.CollectionID)
	}
	if !ping.IsFolder(col.CollectionID) {
		r.Status = eas.SyncObjectNotFound
		return r, nil
	}
	old, known := c.dev.Sync[col.CollectionID]
	next := func(seq uint64) *state.SyncState {
		n, _ := strconv.ParseUint(old.Key, 10, 64)
		return &state.SyncState{Key: strconv.FormatUint(n+1, 10), Seq: seq}
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
	items, seq, err := c.h.mail.Since(c.r.Context(), c.user, col.CollectionID, old.Seq)
	if err != nil {
		c.h.log.Error("Sync", "user", c.user, "device", c.q.DeviceID, "err", err)
		r.Status = eas.SyncServerError
		return r, nil
	}
	if len(items) > window {
		items, seq, r.MoreAvailable = items[:window], items[window-1].Seq, true
	}
	if len(items) > 0 {
		r.Commands = &eas.SyncCommands{}
		for _, m := range items {
			e, err := c.email(m, col.Options)
			if err != nil {
				c.h.log.Error("Sync", "user", c.user, "device", c.q.DeviceID, "err", err)
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
func (c *call) email(m state.Message, opts *eas.SyncOptions) (*eas.Email, error) {
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
	if eas.VersionAtLeast(c.q.Version, "16.0") {
		// [MS-ASEMAIL] 2.2.2.42: 16.0 tells received mail from drafts.
		e.IsDraft = new(false)
	}
	if err := e.SetBody(c.q.Version, eas.BodyPlain, m.Body, limit); err != nil {
		return nil, fmt.Errorf("render message %s: %w", m.ID, err)
	}
	return e, nil
}
