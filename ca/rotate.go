package ca

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pushca/pushca/internal/atomicfile"
)

// RotateIntermediate makes a new intermediate under the same root for each
// family named (every family when none is) and makes it the issuer of every
// later certificate of its family. Devices keep working: they trust the
// root, and each server certificate's chain.pem carries the intermediate
// that issued it. The old intermediates and their keys are kept in
// certs/intermediates and secrets/intermediates.
//
// Each switch is crash-safe: the new pair is written beside the old under
// ".next" names and renamed key first, certificate second; Open finishes
// an interrupted switch (see finishRotation).
func (c *CA) RotateIntermediate(ctx context.Context, password []byte, validity time.Duration, families ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if validity == 0 {
		validity = DefaultIntermediateValidity
	}
	targets, err := c.issuersFor(families, "")
	if err != nil {
		return err
	}
	rootKey, err := c.rootKey(password)
	if err != nil {
		return err
	}
	if max := time.Until(c.root.NotAfter); validity > max {
		validity = max // an intermediate cannot outlive its root
	}
	for _, old := range targets {
		gen, err := c.generation(old.family.Name)
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.archiveIntermediate(old); err != nil {
			return err
		}
		next, err := newIntermediate(c.layout, old.slot, old.family, c.root, rootKey, c.state.Name, gen+1,
			time.Now().Truncate(time.Second), validity, password, RootCRLURL(c.state.CRLURL), nextSuffix)
		if err != nil {
			return err
		}
		if err := c.fail("next-written"); err != nil {
			return err
		}
		if err := finishRotation(c.layout, old.slot); err != nil {
			return err
		}
		// The authority holds the signer: start one on the new pair.
		if err := old.auth.Shutdown(); err != nil {
			return fmt.Errorf("restart CA: %w", err)
		}
		old.auth = nil
		c.issuers[slices.Index(c.issuers, old)] = next
		if err := c.startAuthorities(); err != nil {
			return err
		}
	}
	// The family's CRL is now the new intermediate's to sign: until it
	// does, a client checking a new leaf finds a list from another issuer.
	_, err = c.crl(ctx)
	return err
}

// rootKey decrypts the root key, which only adding or rotating an
// intermediate needs.
func (c *CA) rootKey(password []byte) (crypto.Signer, error) {
	rootKey, err := readEncryptedKey(c.layout.RootKey(), password)
	if err != nil {
		return nil, err
	}
	if !samePublicKey(c.root, rootKey) {
		return nil, fmt.Errorf("root key %s does not belong to %s", c.layout.RootKey(), c.layout.RootCert())
	}
	return rootKey, nil
}

const nextSuffix = ".next"

// finishRotation completes an intermediate switch of a family that a crash
// interrupted, or abandons one whose new certificate was never fully
// written.
func finishRotation(l Layout, s Slot) error {
	keyNext, certNext := l.IntermediateKey(s)+nextSuffix, l.IntermediateCert(s)+nextSuffix
	haveKey, haveCert := exists(keyNext), exists(certNext)
	switch {
	case !haveKey && !haveCert:
		return nil
	case haveKey && !haveCert:
		// The certificate was still being written: the old pair is intact.
		return os.Remove(keyNext)
	}
	if haveKey {
		if err := os.Rename(keyNext, l.IntermediateKey(s)); err != nil {
			return fmt.Errorf("switch intermediate key: %w", err)
		}
		if err := atomicfile.SyncDir(filepath.Dir(keyNext)); err != nil {
			return err
		}
	}
	if err := os.Rename(certNext, l.IntermediateCert(s)); err != nil {
		return fmt.Errorf("switch intermediate certificate: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(certNext))
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

func (l Layout) archivedCert(serial string) string {
	return l.path("certs", "intermediates", serial+".crt")
}

func (l Layout) archivedKey(serial string) string {
	return l.path("secrets", "intermediates", serial+"_key")
}

// archiveIntermediate copies a family's current pair under its serial
// number.
func (c *CA) archiveIntermediate(is *issuer) error {
	serial := is.inter.SerialNumber.String()
	for _, p := range [][2]string{
		{c.layout.IntermediateCert(is.slot), c.layout.archivedCert(serial)},
		{c.layout.IntermediateKey(is.slot), c.layout.archivedKey(serial)},
	} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			return fmt.Errorf("archive intermediate: %w", err)
		}
		if err := atomicfile.MkdirAll(filepath.Dir(p[1])); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(p[1], b, atomicfile.FileMode); err != nil {
			return err
		}
	}
	return nil
}

// generation counts a family's intermediates so far: the current one and
// the archived ones of its family.
func (c *CA) generation(family string) (int, error) {
	dir := filepath.Dir(c.layout.archivedCert("x"))
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list archived intermediates: %w", err)
	}
	n := 1
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".crt" {
			continue
		}
		if f, err := familyOf(filepath.Join(dir, e.Name())); err == nil && f == family {
			n++
		}
	}
	return n, nil
}

// ActiveHosts returns the hosts with an active certificate in one of the
// families named (any family when none is), for reissuing them under a new
// intermediate.
func (c *CA) ActiveHosts(ctx context.Context, families ...string) ([]string, error) {
	recs, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range recs {
		if r.State == StateActive && (len(families) == 0 || slices.Contains(families, r.Family)) && !slices.Contains(out, r.Host) {
			out = append(out, r.Host)
		}
	}
	return out, nil
}
