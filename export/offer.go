package export

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"

	"github.com/pushca/pushca/profile"
)

// offer is what a front end must offer so that every device a set of
// chains serves can connect, and no more: the union of the versions and
// suites the profile table gives those devices (the facts push.TLSConfig
// reads too). Unlike pushca serve, which always offers TLS 1.2 and 1.3 and
// can only name a range of versions, it leaves out the TLS 1.1 no profile
// speaks, and a Windows Mobile-only CA gets TLS 1.0 alone.
type offer struct {
	versions []uint16 // ascending
	// suites are for TLS 1.0-1.2 (1.3 suites are the server's own), in
	// the server's order of preference.
	suites []uint16
	// legacy says a SHA-1 chain or TLS 1.0 is served: OpenSSL 3 accepts
	// either only at security level 0.
	legacy bool
}

func offerFor(chains []Chain) offer {
	var o offer
	var names []string
	keyTypes := map[string]bool{}
	for _, c := range chains {
		names = append(names, c.Family.Name)
		keyTypes[profile.KeyTypeOf(c.Leaf().PublicKey)] = true
		o.legacy = o.legacy || c.Family.Legacy
	}
	var legacySuites []uint16
	defaults := false
	for _, p := range profile.ProfilesOf(names) {
		for v := p.MinTLS; v != 0 && v <= p.MaxTLS; v++ {
			if !slices.Contains(o.versions, v) {
				o.versions = append(o.versions, v)
			}
		}
		if p.MinTLS < tls.VersionTLS12 {
			o.legacy = true
		}
		if p.Suites == nil {
			defaults = true
		}
		for _, s := range p.Suites {
			if !slices.Contains(legacySuites, s) {
				legacySuites = append(legacySuites, s)
			}
		}
	}
	slices.Sort(o.versions)
	// The server's preference: a device offering AES gets AES, whatever
	// order the profiles list their suites in.
	slices.SortStableFunc(legacySuites, func(a, b uint16) int { return weakness(a) - weakness(b) })
	if defaults {
		o.suites = ecdheSuites(keyTypes)
	}
	o.suites = append(o.suites, legacySuites...)
	return o
}

// weakness ranks the legacy ciphers: AES, then 3DES, then RC4.
func weakness(id uint16) int {
	switch name := tls.CipherSuiteName(id); {
	case strings.Contains(name, "_RC4_"):
		return 2
	case strings.Contains(name, "_3DES_"):
		return 1
	}
	return 0
}

// ecdheSuites are Go's forward-secret TLS 1.2 suites, what a profile
// without a suite list of its own speaks (profile.Profile.Suites), for the
// key types served: ECDSA first, so that a client offering both gets the
// ECDSA chain, and AEAD before CBC.
func ecdheSuites(keyTypes map[string]bool) []uint16 {
	var aead, cbc []uint16
	for _, auth := range []struct{ prefix, keyType string }{{"TLS_ECDHE_ECDSA_", profile.KeyEC}, {"TLS_ECDHE_RSA_", profile.KeyRSA}} {
		if !keyTypes[auth.keyType] {
			continue
		}
		for _, s := range tls.CipherSuites() {
			if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) || !strings.HasPrefix(s.Name, auth.prefix) {
				continue
			}
			if strings.Contains(s.Name, "_CBC_") {
				cbc = append(cbc, s.ID)
			} else {
				aead = append(aead, s.ID)
			}
		}
	}
	return append(aead, cbc...)
}

// opensslNames are OpenSSL's names for the suites an offer can hold: its
// cipher strings take no IANA names. TestOpenSSLNames checks them against
// `openssl ciphers -stdname`.
var opensslNames = map[uint16]string{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:                 "DES-CBC3-SHA",
	tls.TLS_RSA_WITH_RC4_128_SHA:                      "RC4-SHA",
}

// cipherString is the offer as an OpenSSL cipher list, ending in
// @SECLEVEL=0 when a legacy chain is served: without it OpenSSL 3 refuses
// to load a SHA-1 chain ("ca md too weak") and to speak TLS 1.0.
func (o offer) cipherString() (string, error) {
	names := make([]string, 0, len(o.suites)+1)
	for _, id := range o.suites {
		n, ok := opensslNames[id]
		if !ok {
			return "", fmt.Errorf("no OpenSSL name for %s", tls.CipherSuiteName(id))
		}
		names = append(names, n)
	}
	if o.legacy {
		names = append(names, "@SECLEVEL=0")
	}
	return strings.Join(names, ":"), nil
}

// versionNames spells the offer's versions the way nginx and Apache do:
// TLSv1, TLSv1.2, ... With gapless, the versions between the lowest and
// the highest come too: mod_ssl sets only a minimum and a maximum, and
// takes a gap for the end of the range (TLSv1 with TLSv1.2 offers no TLS
// 1.0 at all).
func (o offer) versionNames(gapless bool) []string {
	var out []string
	for v := o.versions[0]; v <= o.versions[len(o.versions)-1]; v++ {
		if !gapless && !slices.Contains(o.versions, v) {
			continue
		}
		name := "TLSv1"
		if v > tls.VersionTLS10 {
			name = fmt.Sprintf("TLSv1.%d", v-tls.VersionTLS10)
		}
		out = append(out, name)
	}
	return out
}
