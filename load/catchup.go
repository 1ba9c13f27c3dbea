package load

import (
	"context"
	"fmt"

	"github.com/pushca/pushca/eas"
)

// catchUp syncs the Inbox to its end, as a device does when a Ping finds
// changes. A device id an earlier run used left the messages of that run's
// pushes unsynced on the server, which would answer every Ping at once: a
// second run against the same server would never hold one.
func (r *run) catchUp(ctx context.Context, c *eas.Client) error {
	key, yes := eas.InitialSyncKey, true
	for range 100 { // a bound: an Inbox of a few runs' messages takes two
		col := eas.SyncCollection{SyncKey: key, CollectionID: r.cfg.Inbox, Class: "Email"}
		if key != eas.InitialSyncKey {
			col.GetChanges, col.WindowSize = &yes, 100
		}
		resp, err := c.Sync(ctx, &eas.SyncRequest{Collections: []eas.SyncCollection{col}})
		if err != nil {
			return fmt.Errorf("sync the Inbox left by an earlier run: %w", err)
		}
		if len(resp.Collections) != 1 || resp.Collections[0].Status != eas.SyncOK {
			return fmt.Errorf("sync the Inbox left by an earlier run: %+v", resp.Collections)
		}
		key = resp.Collections[0].SyncKey
		if col.GetChanges != nil && !resp.Collections[0].MoreAvailable {
			return nil
		}
	}
	return fmt.Errorf("sync the Inbox left by an earlier run: more after 100 rounds")
}
