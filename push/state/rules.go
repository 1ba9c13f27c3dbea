package state

import (
	"fmt"
	"slices"
	"time"
)

// DefaultDevicesPerUser is the default limit of devices per mailbox of
// Exchange 2013's throttling policy (EasMaxDevices): a user's records
// beyond it go, the one seen longest ago first.
const DefaultDevicesPerUser = 100

// Exchange 2003 SP2's heartbeat alert (HbiSampleSize, HbiAlertThreshold):
// the average of the last 200 heartbeats at or below 540 s means something
// on the path cuts idle connections (KB 905013).
const (
	DefaultHeartbeatAlertSamples   = 200
	DefaultHeartbeatAlertThreshold = 540
)

// HeartbeatAlert says when a device's heartbeats are low: once Samples
// Pings are recorded, the average of the last Samples at or below
// Threshold seconds. Fewer samples say nothing yet: a device starts at a
// low heartbeat and raises it, so early averages would always alarm.
type HeartbeatAlert struct{ Samples, Threshold int }

// DefaultHeartbeatAlert is Exchange 2003 SP2's.
func DefaultHeartbeatAlert() HeartbeatAlert {
	return HeartbeatAlert{DefaultHeartbeatAlertSamples, DefaultHeartbeatAlertThreshold}
}

// Validate says whether the alert makes sense.
func (a HeartbeatAlert) Validate() error {
	if a.Samples < 1 || a.Threshold < 1 {
		return fmt.Errorf("heartbeat alert after %d samples at %d s: both must be at least 1", a.Samples, a.Threshold)
	}
	return nil
}

// Low says whether dev's heartbeats trip the alert. A record keeps the last
// Samples Pings, so its average is theirs.
func (a HeartbeatAlert) Low(dev Device) bool {
	return len(dev.Pings) >= a.Samples && dev.AverageHeartbeat() <= a.Threshold
}

// AddPing appends p to dev's history, which keeps the last Samples, and
// says whether the alert is newly tripped, for the store to warn once.
func (a HeartbeatAlert) AddPing(dev *Device, p PingLog) (warn bool) {
	dev.Pings = append(dev.Pings, p)
	if n := len(dev.Pings); n > a.Samples {
		dev.Pings = slices.Delete(dev.Pings, 0, n-a.Samples)
	}
	low := a.Low(*dev)
	warn = low && !dev.LowWarned
	dev.LowWarned = low
	return warn
}

// Changed returns fn applied to a copy of prev, or to a new record of
// (user, id) when prev is nil, stamped with LastSeen now: every store
// changes a record this way.
func Changed(prev *Device, user, id string, fn func(*Device)) *Device {
	now := time.Now().UTC()
	dev := Device{User: user, ID: id, FirstSeen: now}
	if prev != nil {
		dev = prev.Clone()
	}
	fn(&dev)
	dev.LastSeen = now
	return &dev
}
