package ca

import (
	"context"
	"fmt"
)

// Repair finishes or abandons what a crash interrupted: a pending record
// whose files are complete becomes active; one whose key was lost is revoked
// and marked abandoned, and its partial files removed. It returns one line
// per record it touched, for the operator.
func (c *CA) Repair(ctx context.Context) ([]string, error) {
	recs, err := c.inv.all()
	if err != nil {
		return nil, err
	}
	var notes []string
	abandoned := false
	for _, r := range recs {
		if r.State != StatePending {
			continue
		}
		if c.versionComplete(r) {
			if err := c.activate(r); err != nil {
				return notes, fmt.Errorf("finish interrupted issuance of %s (serial %s): %w", r.Host, r.Serial, err)
			}
			notes = append(notes, fmt.Sprintf("finished the interrupted issuance of %s (serial %s): it is now active", r.Host, r.Serial))
			continue
		}
		cert, err := r.Certificate()
		if err != nil {
			return notes, err
		}
		if err := c.revokeSerial(ctx, cert, "issuance interrupted; key lost", 5); err != nil {
			return notes, err
		}
		r.State, r.RevokedReason = StateAbandoned, "issuance interrupted before its files were written"
		if err := c.inv.put(r); err != nil {
			return notes, err
		}
		if err := c.removeVersion(r); err != nil {
			return notes, fmt.Errorf("remove partial files of serial %s: %w", r.Serial, err)
		}
		abandoned = true
		notes = append(notes, fmt.Sprintf("abandoned the interrupted issuance of %s (serial %s): its files were incomplete, so it was revoked; issue again", r.Host, r.Serial))
	}
	if abandoned {
		if _, err := c.CRL(ctx); err != nil {
			return notes, err
		}
	}
	return notes, nil
}
