package eas

// PingStatus is Ping:Status ([MS-ASCMD] 2.2.3.177.10).
type PingStatus int

const (
	PingExpired             PingStatus = 1 // heartbeat ended with no changes
	PingChanges             PingStatus = 2 // Folders lists the folders that changed
	PingMissingParameters   PingStatus = 3 // send interval and folders again
	PingSyntaxError         PingStatus = 4
	PingHeartbeatOutOfRange PingStatus = 5 // HeartbeatInterval carries the bound
	PingTooManyFolders      PingStatus = 6 // MaxFolders carries the limit
	PingFolderSyncRequired  PingStatus = 7
	PingServerError         PingStatus = 8
)

var pingStatusNames = map[int]string{
	1: "heartbeat expired", 2: "changes", 3: "missing parameters", 4: "syntax error",
	5: "heartbeat interval out of range", 6: "too many folders", 7: "folder sync required",
	8: "server error",
}

func (s PingStatus) String() string { return statusText(pingStatusNames, int(s)) }

// PingRequest is the DirectPush long poll. Both fields are optional: a zero
// request (an empty body on the wire) tells the server to reuse what it
// cached for the device.
type PingRequest struct {
	HeartbeatInterval int          `wbxml:"Ping:HeartbeatInterval,omitempty"` // seconds
	Folders           []PingFolder `wbxml:"Ping:Folders>Ping:Folder"`
}

// PingFolder is a folder to watch; Class is Email, Calendar, Contacts, Tasks
// or Notes.
type PingFolder struct {
	ID    string `wbxml:"Ping:Id"`
	Class string `wbxml:"Ping:Class"`
}

func (*PingRequest) rootTag() string { return "Ping:Ping" }

// ParsePingRequest decodes a Ping request; an empty body is legal.
func ParsePingRequest(data []byte) (*PingRequest, error) {
	return parse[PingRequest](data, true)
}

// PingResponse ends a Ping.
type PingResponse struct {
	Status            PingStatus `wbxml:"Ping:Status"`
	Folders           []string   `wbxml:"Ping:Folders>Ping:Folder"` // with PingChanges
	HeartbeatInterval int        `wbxml:"Ping:HeartbeatInterval,omitempty"`
	MaxFolders        int        `wbxml:"Ping:MaxFolders,omitempty"`
}

func (*PingResponse) rootTag() string { return "Ping:Ping" }

// ParsePingResponse decodes a Ping response.
func ParsePingResponse(data []byte) (*PingResponse, error) {
	return parse[PingResponse](data, false)
}
