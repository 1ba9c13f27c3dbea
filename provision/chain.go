package provision

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/pushca/pushca/profile"
)

// Chain is what a device must trust to accept the server: the root, and the
// intermediates for devices that do not get them from the server.
type Chain struct {
	Root          *x509.Certificate
	Intermediates []*x509.Certificate
}

// ReadChain reads the root and any intermediates from PEM or DER files. The
// root file must hold exactly one certificate, a self-issued CA.
func ReadChain(rootFile string, intermediateFiles ...string) (Chain, error) {
	roots, err := ReadCertificates(rootFile)
	if err != nil {
		return Chain{}, err
	}
	if len(roots) != 1 {
		return Chain{}, fmt.Errorf("root certificate %s: holds %d certificates, want exactly one", rootFile, len(roots))
	}
	c := Chain{Root: roots[0]}
	for _, f := range intermediateFiles {
		certs, err := ReadCertificates(f)
		if err != nil {
			return Chain{}, err
		}
		c.Intermediates = append(c.Intermediates, certs...)
	}
	if err := c.check(); err != nil {
		return Chain{}, fmt.Errorf("chain from %s: %w", rootFile, err)
	}
	return c, nil
}

// ReadCertificates reads every certificate in a PEM bundle or one DER file.
func ReadCertificates(file string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	certs, err := ParseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("certificate file %s: %w", file, err)
	}
	return certs, nil
}

// ParseCertificates accepts the two forms administrators have at hand: PEM
// (one or more CERTIFICATE blocks) and DER (what Windows exports as .cer).
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		certs, err := x509.ParseCertificates(b)
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor DER: %w", err)
		}
		if len(certs) == 0 {
			return nil, errors.New("no certificate found")
		}
		return certs, nil
	}
	var certs []*x509.Certificate
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q; only CERTIFICATE blocks belong here", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE block found")
	}
	return certs, nil
}

// check catches the mistakes that produce packages devices silently ignore:
// a leaf offered as root, or a server certificate among the intermediates.
// Signatures are not verified here: Go refuses SHA-1 signatures, which is
// exactly what Windows Mobile chains use; profile.Check judges them.
func (c Chain) check() error {
	if c.Root == nil {
		return errors.New("no root certificate")
	}
	if !c.Root.IsCA || !bytes.Equal(c.Root.RawSubject, c.Root.RawIssuer) {
		return fmt.Errorf("%q is not a self-issued CA certificate; devices need the root, not a leaf or intermediate", c.Root.Subject.CommonName)
	}
	for _, ic := range c.Intermediates {
		if !ic.IsCA {
			return fmt.Errorf("%q in the intermediates is not a CA certificate", ic.Subject.CommonName)
		}
	}
	return nil
}

// Chains are what devices of every kind trust, by chain family (the names
// of profile.Families): one root, and under it each family's intermediates.
// No single chain suits Windows Mobile and iOS at once
// (reference/trust-and-servers.md §1), so a device kind gets the chain of
// the family profile.FamilyFor picks for it, and every chain ends at the same
// root: one root installed serves a device whichever family the server
// presents to it.
type Chains map[string]Chain

// AnyFamily makes c the chain of every family: for certificates pushca did
// not make (--root, --intermediate), whose family it does not judge. The
// Windows Mobile packages still warn about what those devices would refuse.
func AnyFamily(c Chain) Chains {
	cs := Chains{}
	for _, f := range profile.FamilyNames() {
		cs[f] = c
	}
	return cs
}

// Families names the chains' families in the table's order, which is the
// order profile.FamilyFor prefers among families a device accepts alike.
func (cs Chains) Families() []string {
	var out []string
	for _, f := range profile.FamilyNames() {
		if _, ok := cs[f]; ok {
			out = append(out, f)
		}
	}
	return out
}

// Root is the one root every chain ends at; nil when there is no chain.
func (cs Chains) Root() *x509.Certificate {
	for _, f := range cs.Families() {
		return cs[f].Root
	}
	return nil
}

// For returns the chain devices of the named profile are served: the chain
// of the family profile.FamilyFor picks. A *FamilyError says the chains
// lack a family those devices accept.
func (cs Chains) For(device string) (Chain, error) {
	p, err := profile.Get(device)
	if err != nil {
		return Chain{}, err
	}
	f, ok := profile.FamilyFor(p, cs.Families())
	if !ok {
		return Chain{}, &FamilyError{Devices: []string{p.Name}, Families: []string{p.Family}}
	}
	return cs[f.Name], nil
}

// serve says whether the chains serve every device kind named; a
// *FamilyError gathers the kinds they cannot, so one message covers a
// person's devices.
func (cs Chains) serve(devices []string) error {
	var missing FamilyError
	for _, d := range devices {
		_, err := cs.For(d)
		var fe *FamilyError
		switch {
		case errors.As(err, &fe):
			missing.Devices = append(missing.Devices, fe.Devices...)
			for _, f := range fe.Families {
				if !slices.Contains(missing.Families, f) {
					missing.Families = append(missing.Families, f)
				}
			}
		case err != nil:
			return err
		}
	}
	if len(missing.Devices) > 0 {
		return &missing
	}
	return nil
}

// check refuses what no CA holds: no chain, a family the table does not
// know, a broken chain, or chains ending at different roots.
func (cs Chains) check() error {
	if len(cs) == 0 {
		return errors.New("no certificate chain: give the root and each chain family's intermediate")
	}
	var root *x509.Certificate
	for _, f := range slices.Sorted(maps.Keys(cs)) {
		if _, err := profile.GetFamily(f); err != nil {
			return err
		}
		c := cs[f]
		if err := c.check(); err != nil {
			return fmt.Errorf("%s chain: %w", f, err)
		}
		if root == nil {
			root = c.Root
		} else if !root.Equal(c.Root) {
			return fmt.Errorf("the %s chain ends at root %q, another chain at %q: every family of a CA is under its one root", f, c.Root.Subject.CommonName, root.Subject.CommonName)
		}
	}
	return nil
}

// FamilyError says which device kinds a CA has no chain for, and the chain
// families that would serve them (each kind's own, profile.Profile.Family).
type FamilyError struct {
	Devices, Families []string
}

func (e *FamilyError) Error() string {
	noun := "family"
	if len(e.Families) > 1 {
		noun = "families"
	}
	return fmt.Sprintf("%s devices need the %s chain %s, which this CA lacks", strings.Join(e.Devices, ", "), strings.Join(e.Families, " and "), noun)
}
