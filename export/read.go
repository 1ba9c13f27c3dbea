package export

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/profile"
)

// Chain is one family's certificate of a host as a server serves it.
type Chain struct {
	Family profile.Family
	// Certs is the leaf, then the intermediate.
	Certs []*x509.Certificate
	Key   crypto.Signer
	// Dir is the version directory the files were read from, so that a
	// report can name the serial the "current" link pointed at.
	Dir string
}

// Leaf is the server certificate itself.
func (c Chain) Leaf() *x509.Certificate { return c.Certs[0] }

// Host is what the state directory holds for one host name.
type Host struct {
	Name   string
	Root   *x509.Certificate
	Chains []Chain // in the CA's family order
}

// Read reads the current chain and key of host in each family named (every
// family of the CA that has one when none is named).
func Read(ctx context.Context, dir, host string, families ...string) (*Host, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// host becomes a path below servers/.
	if host == "" || host != filepath.Base(host) || strings.HasPrefix(host, ".") {
		return nil, fmt.Errorf("host %q is not a host name", host)
	}
	slots, err := ca.ReadSlots(dir)
	if err != nil {
		return nil, err
	}
	l := ca.Layout{Dir: dir}
	for _, f := range families {
		if !slices.ContainsFunc(slots, func(s ca.Slot) bool { return s.Family == f }) {
			if _, err := profile.GetFamily(f); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("the CA in %s has no %s chain family", dir, f)
		}
	}
	h := &Host{Name: host}
	if h.Root, err = readCert(l.RootCert()); err != nil {
		return nil, err
	}
	for _, s := range slots {
		named := slices.Contains(families, s.Family)
		if len(families) > 0 && !named {
			continue
		}
		ch, err := readChain(l, host, s)
		if errors.Is(err, fs.ErrNotExist) && !named {
			continue
		}
		if err != nil {
			return nil, err
		}
		h.Chains = append(h.Chains, ch)
	}
	if len(h.Chains) == 0 {
		return nil, fmt.Errorf("%s has no server certificate in %s; issue one with `pushca cert issue %s`", host, dir, host)
	}
	return h, nil
}

// readChain follows the family's "current" link once and reads chain and
// key from the directory it names: the CA swaps the link on renewal, and
// reading through it twice could pair an old chain with a new key.
func readChain(l ca.Layout, host string, s ca.Slot) (Chain, error) {
	fam, err := profile.GetFamily(s.Family)
	if err != nil {
		return Chain{}, err
	}
	link := l.ServerCurrent(host, s)
	dir, err := filepath.EvalSymlinks(link)
	if errors.Is(err, fs.ErrNotExist) {
		return Chain{}, fmt.Errorf("%s has no %s certificate (%s is missing): %w", host, s.Family, link, err)
	}
	if err != nil {
		return Chain{}, fmt.Errorf("%s certificate of %s: %w", s.Family, host, err)
	}
	chainFile := filepath.Join(dir, filepath.Base(l.ServerChain(host, s)))
	keyFile := filepath.Join(dir, filepath.Base(l.ServerKey(host, s)))
	chainPEM, err := os.ReadFile(chainFile)
	if err != nil {
		return Chain{}, fmt.Errorf("read %s: %w", chainFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return Chain{}, fmt.Errorf("%s has no key beside its %s certificate (%s): its key came from a CSR and pushca does not hold it", host, s.Family, keyFile)
	}
	if err != nil {
		return Chain{}, fmt.Errorf("read %s: %w", keyFile, err)
	}
	// X509KeyPair also proves that the key belongs to the leaf.
	pair, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return Chain{}, fmt.Errorf("%s with %s: %w", chainFile, keyFile, err)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return Chain{}, fmt.Errorf("%s: %T is not a signing key", keyFile, pair.PrivateKey)
	}
	ch := Chain{Family: fam, Key: key, Dir: dir}
	for _, der := range pair.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return Chain{}, fmt.Errorf("%s: %w", chainFile, err)
		}
		ch.Certs = append(ch.Certs, c)
	}
	return ch, nil
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	certs, err := parsePEMCerts(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%s: %d certificates, want the root alone", path, len(certs))
	}
	return certs[0], nil
}
