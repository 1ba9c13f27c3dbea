package ca

import (
	"os"
	"path/filepath"
)

// Layout names the files of a state directory. The names follow step-ca's
// (config/ca.json, certs/, secrets/, db/) so that step-ca can serve the same
// directory later.
type Layout struct {
	Dir string
	// dsn is the PostgreSQL database of an opened directory whose state
	// names one, "" for the bbolt file: what errors about the database name.
	dsn string
}

// database names the directory's database for errors: the bbolt file or
// the PostgreSQL URL.
func (l Layout) database() string {
	if l.dsn == "" {
		return l.DB()
	}
	return redactDSN(l.dsn)
}

func (l Layout) path(parts ...string) string {
	return filepath.Join(append([]string{l.Dir}, parts...)...)
}

// StepConfig is a family's step-ca configuration: config/ca.json for the
// first family, config/ca-FAMILY.json for the others. `step-ca FILE` serves
// the family by its rules; they share the database, so one runs at a time.
func (l Layout) StepConfig(s Slot) string { return l.path("config", "ca"+s.suffix+".json") }

// ProvisionerPassword decrypts the key of the JWK provisioner in the step-ca
// configurations: a random secret of its own, never the CA password.
func (l Layout) ProvisionerPassword() string {
	return l.path("secrets", "provisioner_password")
}

// State is pushca's own record: format version and CA profile.
func (l Layout) State() string { return l.path("pushca.json") }

// RootCert is the root certificate (PEM) that devices must trust.
func (l Layout) RootCert() string { return l.path("certs", "root_ca.crt") }

// Slot names one chain family's files in a state directory. The first
// family of a CA uses the names step-ca's ca.json gives
// (certs/intermediate_ca.crt, servers/HOST/current, ...); every other family
// adds "-FAMILY" to them. So a directory made before families existed is
// already the layout of a one-family CA, and step-ca serving the directory
// issues from the first family.
type Slot struct {
	Family string
	suffix string
}

// Suffix is "" for the first family and "-FAMILY" for the others: what the
// family adds to the names of its files (and of its CRL's URL).
func (s Slot) Suffix() string { return s.suffix }

func newSlot(family string, first bool) Slot {
	if first {
		return Slot{Family: family}
	}
	return Slot{Family: family, suffix: "-" + family}
}

// IntermediateCert is a family's current intermediate certificate (PEM).
func (l Layout) IntermediateCert(s Slot) string {
	return l.path("certs", "intermediate_ca"+s.suffix+".crt")
}

// RootKey and IntermediateKey are PKCS#8 PEM keys encrypted with the CA
// password.
func (l Layout) RootKey() string { return l.path("secrets", "root_ca_key") }
func (l Layout) IntermediateKey(s Slot) string {
	return l.path("secrets", "intermediate_ca"+s.suffix+"_key")
}

// owner names the directory in the records whose files it holds (see
// Record.Files): this machine's name and the directory's absolute path, so
// that two operators' directories differ even at the same path.
func (l Layout) owner() string {
	host, _ := os.Hostname()
	abs, err := filepath.Abs(l.Dir)
	if err != nil {
		abs = l.Dir
	}
	return host + ":" + abs
}

// DB is the bbolt inventory file (unused while the state names a
// PostgreSQL database).
func (l Layout) DB() string { return l.path("db", "pushca.db") }

// CRL is the most recent certificate revocation list a family's
// intermediate signed (DER).
func (l Layout) CRL(s Slot) string { return l.path("certs", "crl"+s.suffix+".der") }

// ServerDir holds a host's server certificates: one subdirectory per
// serial number and a symlink "current" per family to the one in use.
// Swapping the symlink is atomic, so a server never reads a key and a
// certificate that do not belong together.
func (l Layout) ServerDir(host string) string { return l.path("servers", host) }

// ServerVersion is the directory of one issued certificate.
func (l Layout) ServerVersion(host, serial string) string { return l.path("servers", host, serial) }

// ServerCurrent is the symlink to the version of a family in use.
func (l Layout) ServerCurrent(host string, s Slot) string {
	return l.path("servers", host, "current"+s.suffix)
}

// ServerCert is the leaf alone, ServerChain the leaf plus intermediate (what a
// TLS server sends), ServerKey its private key (unencrypted, 0600: a server
// must start unattended). They resolve through the family's "current" link.
func (l Layout) ServerCert(host string, s Slot) string {
	return filepath.Join(l.ServerCurrent(host, s), certFile)
}
func (l Layout) ServerChain(host string, s Slot) string {
	return filepath.Join(l.ServerCurrent(host, s), chainFile)
}
func (l Layout) ServerKey(host string, s Slot) string {
	return filepath.Join(l.ServerCurrent(host, s), keyFile)
}

const (
	certFile  = "cert.pem"
	chainFile = "chain.pem"
	keyFile   = "key.pem"
)
