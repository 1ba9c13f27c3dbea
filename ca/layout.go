package ca

import "path/filepath"

// Layout names the files of a state directory. The names follow step-ca's
// (config/ca.json, certs/, secrets/, db/) so that step-ca can serve the same
// directory later.
type Layout struct{ Dir string }

func (l Layout) path(parts ...string) string {
	return filepath.Join(append([]string{l.Dir}, parts...)...)
}

// Config is the step-ca compatible configuration.
func (l Layout) Config() string { return l.path("config", "ca.json") }

// State is pushca's own record: format version and CA profile.
func (l Layout) State() string { return l.path("pushca.json") }

// RootCert is the root certificate (PEM) that devices must trust.
func (l Layout) RootCert() string { return l.path("certs", "root_ca.crt") }

// IntermediateCert is the current intermediate certificate (PEM).
func (l Layout) IntermediateCert() string { return l.path("certs", "intermediate_ca.crt") }

// RootKey and IntermediateKey are PKCS#8 PEM keys encrypted with the CA
// password.
func (l Layout) RootKey() string         { return l.path("secrets", "root_ca_key") }
func (l Layout) IntermediateKey() string { return l.path("secrets", "intermediate_ca_key") }

// DB is the bbolt inventory file.
func (l Layout) DB() string { return l.path("db", "pushca.db") }

// CRL is the most recent certificate revocation list (DER).
func (l Layout) CRL() string { return l.path("certs", "crl.der") }

// ServerDir holds a host's server certificates: one subdirectory per
// serial number and a symlink "current" to the one in use. Swapping the
// symlink is atomic, so a server never reads a key and a certificate that do
// not belong together.
func (l Layout) ServerDir(host string) string { return l.path("servers", host) }

// ServerVersion is the directory of one issued certificate.
func (l Layout) ServerVersion(host, serial string) string { return l.path("servers", host, serial) }

// ServerCurrent is the symlink to the version in use.
func (l Layout) ServerCurrent(host string) string { return l.path("servers", host, "current") }

// ServerCert is the leaf alone, ServerChain the leaf plus intermediate (what a
// TLS server sends), ServerKey its private key (unencrypted, 0600: a server
// must start unattended). They resolve through the "current" symlink.
func (l Layout) ServerCert(host string) string { return filepath.Join(l.ServerCurrent(host), certFile) }
func (l Layout) ServerChain(host string) string {
	return filepath.Join(l.ServerCurrent(host), chainFile)
}
func (l Layout) ServerKey(host string) string { return filepath.Join(l.ServerCurrent(host), keyFile) }

const (
	certFile  = "cert.pem"
	chainFile = "chain.pem"
	keyFile   = "key.pem"
)
