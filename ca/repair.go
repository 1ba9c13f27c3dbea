package ca

import (
	"context"
	"fmt"
	"os"

	"github.com/smallstep/nosql/database"
)

// Repair finishes or abandons what a crash interrupted: an issuance whose
// files are complete becomes active; one whose key was lost is revoked and
// marked abandoned, and its partial files removed. An interrupted issuance
// is a version directory no record names (see finish), or a pending record
// (what issuances before that left); an active record its host's link
// does not point at had its link switch interrupted. It returns one line
// per certificate it touched, for the operator.
func (c *CA) Repair(ctx context.Context) ([]string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	recs, err := c.inv.all()
	if err != nil {
		return nil, err
	}
	var notes []string
	abandoned := false
	known := make(map[string]bool, len(recs))
	var pending []version
	for _, r := range recs {
		known[r.Serial] = true
		// Another directory's issuance, running or interrupted, is that
		// directory's to finish: its files are there.
		if !ownFiles(c.layout, r) || r.Source != SourcePushca {
			continue
		}
		switch {
		case r.State == StatePending:
			pending = append(pending, version{r.Host, r.Serial})
		case r.State == StateActive && !c.linked(r):
			note, err := c.relink(ctx, r)
			if err != nil {
				return notes, err
			}
			if note != "" {
				notes = append(notes, note)
			}
		}
	}
	loose, err := unrecorded(c.layout, known)
	if err != nil {
		return nil, err
	}
	for _, v := range append(pending, loose...) {
		note, gone, err := c.repair(ctx, v, known[v.serial])
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

// repair finishes or abandons one interrupted issuance, a pending record
// (recorded) or a version directory without one, under its host's lock: an
// issuance running in this process, or in another on the same directory
// on PostgreSQL, looks the same until it is done with the host, so what
// repair decides on is read again under the lock.
func (c *CA) repair(ctx context.Context, v version, recorded bool) (note string, abandoned bool, err error) {
	unlock, err := c.locks.host(ctx, v.host)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if !recorded {
		if known, err := c.inv.known(v.serial); err != nil || known {
			return "", false, err
		}
		adopted, err := c.adoptVersion(v)
		if err != nil {
			return "", false, err
		}
		if !adopted {
			return fmt.Sprintf("removed the partial files of an issuance of %s interrupted before its certificate was written (serial %s)", v.host, v.serial), false, nil
		}
	}
	r, err := c.inv.get(v.serial)
	if err != nil || r.State != StatePending {
		return "", false, err
	}
	is := c.issuer(r.Family)
	if is == nil {
		return "", false, fmt.Errorf("pending certificate %s of %s is of the %s chain family, which this CA does not have", r.Serial, r.Host, r.Family)
	}
	if versionComplete(c.layout, r) {
		var prev *Record
		if p, ok, err := c.inv.active(r.Host, is.slot); err != nil {
			return "", false, err
		} else if ok {
			prev = &p
		}
		if err := c.activate(new(database.Tx), r, is.slot, prev); err != nil {
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

// linked reports whether the link of r's host and family points at r.
func (c *CA) linked(r Record) bool {
	is := c.issuer(r.Family)
	if is == nil {
		return true // not this CA's to serve; `ca check` reports it
	}
	link, err := os.Readlink(c.layout.ServerCurrent(r.Host, is.slot))
	return err == nil && link == r.Serial
}

// relink points the link of an active record's host at it, when a crash
// came between the record and the link switch (see activate). Under the
// host's lock, for the same reason as repair.
func (c *CA) relink(ctx context.Context, r Record) (string, error) {
	unlock, err := c.locks.host(ctx, r.Host)
	if err != nil {
		return "", err
	}
	defer unlock()
	is := c.issuer(r.Family)
	cur, ok, err := c.inv.active(r.Host, is.slot)
	// Files that are not there are `ca check`'s to report: a link to them
	// would serve nothing.
	if err != nil || !ok || cur.Serial != r.Serial || c.linked(cur) || !versionComplete(c.layout, cur) {
		return "", err
	}
	if err := c.switchCurrent(r.Host, is.slot, r.Serial); err != nil {
		return "", fmt.Errorf("finish interrupted issuance of %s (serial %s): %w", r.Host, r.Serial, err)
	}
	return fmt.Sprintf("finished the interrupted issuance of %s (serial %s): its link now points at it", r.Host, r.Serial), nil
}
