package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pushca/pushca/profile"
)

// AddFamily adds a chain family to the CA: a new intermediate under the same
// root, so devices enrolled with the root trust the new family's chains
// without being touched again. It refuses a family whose devices would
// reject the root itself: an ECDSA root for Windows Mobile, or a root
// self-signed with SHA-256, which the legacy profiles refuse because Windows
// Mobile's check of it is unconfirmed [U]. Leaves of the family are issued afterwards, with
// `cert issue HOST --family NAME`.
func (c *CA) AddFamily(ctx context.Context, password []byte, name string, validity time.Duration) (*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := profile.GetFamily(name)
	if err != nil {
		return nil, err
	}
	if slices.Contains(c.state.Families, f.Name) {
		return nil, fmt.Errorf("this CA already has the %s chain family", f.Name)
	}
	var errs []error
	for _, p := range profile.ProfilesServedBy(f) {
		errs = append(errs, p.Check(c.root, profile.Root)...)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("cannot add the %s chain family under this root, whose devices would refuse the root itself: %w; such devices need a CA of their own (`pushca init --profiles ... --dir OTHER`)", f.Name, errors.Join(errs...))
	}
	rootKey, err := c.rootKey(password)
	if err != nil {
		return nil, err
	}
	if validity == 0 {
		validity = DefaultIntermediateValidity
	}
	if max := time.Until(c.root.NotAfter); validity > max {
		validity = max
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := c.state
	st.Format = FormatVersion
	st.Families = append(slices.Clone(st.Families), f.Name)
	st.Profile = ""
	s := newSlot(f.Name, false)
	is, err := newIntermediate(c.layout, s, f, c.root, rootKey, c.state.Name, 1, time.Now().Truncate(time.Second), validity, password, RootCRLURL(c.state.CRLURL))
	if err != nil {
		return nil, err
	}
	// The state last: until it names the family, its files are strays that
	// a retry overwrites.
	if err := writeState(c.layout, st); err != nil {
		return nil, err
	}
	c.state = st
	c.issuers = append(c.issuers, is)
	if err := c.startAuthorities(); err != nil {
		return nil, err
	}
	if err := syncStepConfigs(c.layout, c.layout, st); err != nil {
		return nil, err
	}
	return is.inter, nil
}
