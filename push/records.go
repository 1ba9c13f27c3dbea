package push

import "github.com/pushca/pushca/push/state"

// The records package state keeps keep their names here too: they are
// push's API (the admin API's JSON, Config, the commands that print them).
type (
	Device    = state.Device
	SyncState = state.SyncState
	PingLog   = state.PingLog
	Message   = state.Message
)
