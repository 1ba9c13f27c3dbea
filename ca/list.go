package ca

import (
	"context"
	"time"
)

// List returns every certificate in the inventory, oldest first.
func (c *CA) List(ctx context.Context) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.inv.all()
}

// Expiring returns the active certificates that expire before now+within.
func (c *CA) Expiring(ctx context.Context, now time.Time, within time.Duration) ([]Record, error) {
	recs, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	return expiring(recs, now, within), nil
}

// expiring picks the active records that expire before now+within.
func expiring(recs []Record, now time.Time, within time.Duration) []Record {
	var out []Record
	for _, r := range recs {
		if r.State == StateActive && r.NotAfter.Before(now.Add(within)) {
			out = append(out, r)
		}
	}
	return out
}
