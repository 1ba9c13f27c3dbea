package ca

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pushca/pushca/internal/atomicfile"
)

// RotateIntermediate makes a new intermediate under the same root and makes
// it the issuer of every later certificate. Devices keep working: they trust
// the root, and each server certificate's chain.pem carries the
// intermediate that issued it. The old intermediate and its key are kept in
// certs/intermediates and secrets/intermediates.
//
// The switch is crash-safe: the new pair is written beside the old under
// ".next" names and renamed key first, certificate second; Open finishes
// an interrupted switch (see finishRotation).
func (c *CA) RotateIntermediate(ctx context.Context, password []byte, validity time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if validity == 0 {
		validity = DefaultIntermediateValidity
	}
	rootKey, err := readEncryptedKey(c.layout.RootKey(), password)
	if err != nil {
		return err
	}
	if !samePublicKey(c.root, rootKey) {
		return fmt.Errorf("root key %s does not belong to %s", c.layout.RootKey(), c.layout.RootCert())
	}
	if max := time.Until(c.root.NotAfter); validity > max {
		validity = max // an intermediate cannot outlive its root
	}
	old, err := c.archivedIntermediates()
	if err != nil {
		return err
	}
	key, err := generateKey(c.profile)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cn := fmt.Sprintf("%s Intermediate CA G%d", c.state.Name, len(old)+2)
	cert, err := createCA("intermediate", cn, key, c.root, rootKey, c.profile, time.Now().Truncate(time.Second), validity, c.state.CRLURL)
	if err != nil {
		return err
	}
	if errs := checkCAChain(c.profile, c.root, cert); len(errs) > 0 {
		return fmt.Errorf("self-check of the new intermediate failed: %w", errors.Join(errs...))
	}
	if err := c.archiveIntermediate(); err != nil {
		return err
	}
	if err := writeEncryptedKey(c.layout.IntermediateKey()+nextSuffix, key, password); err != nil {
		return err
	}
	if err := writeCerts(c.layout.IntermediateCert()+nextSuffix, cert); err != nil {
		return err
	}
	if err := c.fail("next-written"); err != nil {
		return err
	}
	if err := finishRotation(c.layout); err != nil {
		return err
	}
	// The authority holds the signer: start it again on the new pair.
	if err := c.auth.Shutdown(); err != nil {
		return fmt.Errorf("restart CA: %w", err)
	}
	c.auth, c.inter, c.signer = nil, cert, key
	return c.startAuthority()
}

const nextSuffix = ".next"

// finishRotation completes an intermediate switch that a crash interrupted,
// or abandons one whose new certificate was never fully written.
func finishRotation(l Layout) error {
	keyNext, certNext := l.IntermediateKey()+nextSuffix, l.IntermediateCert()+nextSuffix
	haveKey, haveCert := exists(keyNext), exists(certNext)
	switch {
	case !haveKey && !haveCert:
		return nil
	case haveKey && !haveCert:
		// The certificate was still being written: the old pair is intact.
		return os.Remove(keyNext)
	}
	if haveKey {
		if err := os.Rename(keyNext, l.IntermediateKey()); err != nil {
			return fmt.Errorf("switch intermediate key: %w", err)
		}
		if err := atomicfile.SyncDir(filepath.Dir(keyNext)); err != nil {
			return err
		}
	}
	if err := os.Rename(certNext, l.IntermediateCert()); err != nil {
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

// archiveIntermediate copies the current pair under its serial number.
func (c *CA) archiveIntermediate() error {
	serial := c.inter.SerialNumber.String()
	for _, p := range [][2]string{
		{c.layout.IntermediateCert(), c.layout.archivedCert(serial)},
		{c.layout.IntermediateKey(), c.layout.archivedKey(serial)},
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

// archivedIntermediates lists the serials of earlier intermediates.
func (c *CA) archivedIntermediates() ([]string, error) {
	ents, err := os.ReadDir(filepath.Dir(c.layout.archivedCert("x")))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list archived intermediates: %w", err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); filepath.Ext(n) == ".crt" {
			out = append(out, n[:len(n)-len(".crt")])
		}
	}
	return out, nil
}

// ActiveHosts returns the hosts with an active certificate, for reissuing
// them under a new intermediate.
func (c *CA) ActiveHosts(ctx context.Context) ([]string, error) {
	recs, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range recs {
		if r.State == StateActive {
			out = append(out, r.Host)
		}
	}
	return out, nil
}
