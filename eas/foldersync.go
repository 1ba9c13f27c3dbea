package eas

import "fmt"

// FolderSyncStatus is FolderHierarchy:Status in a FolderSync response.
type FolderSyncStatus int

const (
	FolderSyncOK           FolderSyncStatus = 1
	FolderSyncServerError  FolderSyncStatus = 6
	FolderSyncInvalidKey   FolderSyncStatus = 9 // start over with SyncKey 0
	FolderSyncMalformed    FolderSyncStatus = 10
	FolderSyncUnknownError FolderSyncStatus = 11
	FolderSyncCodeUnknown  FolderSyncStatus = 12
)

var folderSyncStatusNames = map[int]string{
	1: "success", 6: "server error", 9: "invalid sync key", 10: "malformed request",
	11: "unknown error", 12: "code unknown",
}

func (s FolderSyncStatus) String() string { return statusText(folderSyncStatusNames, int(s)) }

// FolderType is FolderHierarchy:Type.
type FolderType int

const (
	FolderGeneric     FolderType = 1
	FolderInbox       FolderType = 2
	FolderDrafts      FolderType = 3
	FolderDeleted     FolderType = 4
	FolderSent        FolderType = 5
	FolderOutbox      FolderType = 6
	FolderTasks       FolderType = 7
	FolderCalendar    FolderType = 8
	FolderContacts    FolderType = 9
	FolderNotes       FolderType = 10
	FolderJournal     FolderType = 11
	FolderUserCreated FolderType = 12
)

// MaxSyncKeyLen bounds SyncKey values: [MS-ASCMD] caps them at 64 characters.
const MaxSyncKeyLen = 64

// InitialSyncKey starts a FolderSync or a collection's Sync from scratch.
const InitialSyncKey = "0"

func checkSyncKey(k string) error {
	if len(k) > MaxSyncKeyLen {
		return fmt.Errorf("SyncKey of %d characters exceeds %d", len(k), MaxSyncKeyLen)
	}
	return nil
}

// checkSyncKeys checks the SyncKey of every collection in cs.
func checkSyncKeys[T any](cs []T, key func(T) string) error {
	for _, c := range cs {
		if err := checkSyncKey(key(c)); err != nil {
			return err
		}
	}
	return nil
}

// FolderSyncRequest asks for hierarchy changes since SyncKey.
type FolderSyncRequest struct {
	SyncKey string `wbxml:"FolderHierarchy:SyncKey"`
}

func (*FolderSyncRequest) rootTag() string { return "FolderHierarchy:FolderSync" }

func (r *FolderSyncRequest) validate() error { return checkSyncKey(r.SyncKey) }

// ParseFolderSyncRequest decodes a FolderSync request.
func ParseFolderSyncRequest(data []byte) (*FolderSyncRequest, error) {
	return parse[FolderSyncRequest](data, false)
}

// FolderSyncResponse carries the new SyncKey and the hierarchy changes.
type FolderSyncResponse struct {
	Status  FolderSyncStatus `wbxml:"FolderHierarchy:Status"`
	SyncKey string           `wbxml:"FolderHierarchy:SyncKey,omitempty"`
	Changes *FolderChanges   `wbxml:"FolderHierarchy:Changes"`
}

func (*FolderSyncResponse) rootTag() string { return "FolderHierarchy:FolderSync" }

func (r *FolderSyncResponse) validate() error { return checkSyncKey(r.SyncKey) }

// ParseFolderSyncResponse decodes a FolderSync response.
func ParseFolderSyncResponse(data []byte) (*FolderSyncResponse, error) {
	return parse[FolderSyncResponse](data, false)
}

// FolderChanges lists added, changed and deleted folders; Count is their total.
type FolderChanges struct {
	Count  int            `wbxml:"FolderHierarchy:Count"`
	Update []Folder       `wbxml:"FolderHierarchy:Update"`
	Delete []FolderDelete `wbxml:"FolderHierarchy:Delete"`
	Add    []Folder       `wbxml:"FolderHierarchy:Add"`
}

// Folder is one folder of the hierarchy; ParentID "0" is the top.
type Folder struct {
	ServerID    string     `wbxml:"FolderHierarchy:ServerId"`
	ParentID    string     `wbxml:"FolderHierarchy:ParentId"`
	DisplayName string     `wbxml:"FolderHierarchy:DisplayName"`
	Type        FolderType `wbxml:"FolderHierarchy:Type"`
}

// FolderDelete names a removed folder.
type FolderDelete struct {
	ServerID string `wbxml:"FolderHierarchy:ServerId"`
}
