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
	c.mu.RLock()
	defer c.mu.RUnlock()
	recs, err := c.inv.all()
	if err != nil {
		return nil, err
	}
	var notes []string
	abandoned := false
	for _, r := range recs {
		// Another directory's issuance, running or interrupted, is that
		// directory's to finish: its files are there.
		if r.State != StatePending || !ownFiles(c.layout, r) {
			continue
		}
		note, gone, err := c.repair(ctx, r.Host, r.Serial)
		if err != nil {
			return notes, err
		}
		if note != "" {
			notes = append(notes, note)
		}
		abandoned = abandoned || gone
	}
	if abandoned {
		if _, err := c.crl(ctx); err != nil {
			return notes, err
		}
	}
	return notes, nil
}

// repair finishes or abandons one pending record, under its host's lock:
// an issuance running in this process has a pending record too, so the
// record is read again once that issuance is done with the host.
func (c *CA) repair(ctx context.Context, host, serial string) (note string, abandoned bool, err error) {
	unlock, err := c.locks.host(ctx, host)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	r, err := c.inv.get(serial)
	if err != nil || r.State != StatePending {
		return "", false, err
	}
	is := c.issuer(r.Family)
	if is == nil {
		return "", false, fmt.Errorf("pending certificate %s of %s is of the %s chain family, which this CA does not have", r.Serial, r.Host, r.Family)
	}
	if versionComplete(c.layout, r) {
		if err := c.activate(r, is.slot); err != nil {
			return "", false, fmt.Errorf("finish interrupted issuance of %s (serial %s): %w", r.Host, r.Serial, err)
		}
		return fmt.Sprintf("finished the interrupted issuance of %s (serial %s): it is now active", r.Host, r.Serial), false, nil
	}
	cert, err := r.Certificate()
	if err != nil {
		return "", false, err
	}
	if err := c.revokeSerial(ctx, is, cert, "issuance interrupted; key lost", 5); err != nil {
		return "", false, err
	}
	r.State, r.RevokedReason = StateAbandoned, "issuance interrupted before its files were written"
	if err := c.inv.put(r); err != nil {
		return "", false, err
	}
	if err := c.removeVersion(r); err != nil {
		return "", false, fmt.Errorf("remove partial files of serial %s: %w", r.Serial, err)
	}
	return fmt.Sprintf("abandoned the interrupted issuance of %s (serial %s): its files were incomplete, so it was revoked; issue again", r.Host, r.Serial), true, nil
}
