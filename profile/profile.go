package profile

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Key types a profile can ask for.
const (
	KeyRSA = "RSA"
	KeyEC  = "EC"
)

// Heartbeat describes how a device family adapts its DirectPush heartbeat
// (reference/activesync.md, "Device heartbeat adaptation"). Seconds.
type Heartbeat struct {
	Start, Min, Max, Step int
	// NeverRaiseAfterDrop is Android's rule: after one failed interval the
	// client stays at the lower value.
	NeverRaiseAfterDrop bool
}

// Settle returns the heartbeat a device of this family ends up using on a
// path that keeps idle connections open for limit seconds and cuts longer
// ones: it climbs from Start by Step while Pings are answered, and on a
// failure at Start drops to Min (Windows Mobile) or steps down and stays
// (NeverRaiseAfterDrop, Android). ok is false when even the lowest interval
// the device tries is cut, or when the family has no heartbeat model.
func (h Heartbeat) Settle(limit int) (hb int, ok bool) {
	if h.Start <= 0 || h.Step <= 0 {
		return 0, false
	}
	hb = h.Start
	if hb > limit {
		if h.NeverRaiseAfterDrop {
			for hb > limit && hb > h.Min {
				hb = max(hb-h.Step, h.Min)
			}
			return hb, hb <= limit
		}
		if hb = h.Min; hb > limit {
			return hb, false
		}
	}
	for hb < h.Max && min(hb+h.Step, h.Max) <= limit {
		hb = min(hb+h.Step, h.Max)
	}
	return hb, true
}

// Profile is what one family of devices accepts and speaks.
type Profile struct {
	Name        string
	Description string

	// Family is the chain family pushca serves these devices (see
	// family.go); a CA without it serves them another family they accept.
	Family string
	// AllowEC says whether devices accept ECDSA keys anywhere in the chain.
	AllowEC bool
	// AllowSHA2 says whether devices accept SHA-2 signed certificates.
	// Windows Mobile 5.0-6.5 fail on them with 0x80072F0D.
	AllowSHA2 bool
	// MinRSABits is the smallest RSA modulus issued for the profile.
	MinRSABits int
	// Wildcards says whether a *.example.com name matches on the device.
	Wildcards bool
	// MaxLeafDays caps the validity of a server certificate (0: no cap).
	MaxLeafDays int

	// TLS settings a server must offer these devices.
	MinTLS, MaxTLS uint16
	// Suites for TLS 1.0-1.2; nil means Go's defaults.
	Suites []uint16

	// CAB packaging: Compress says whether MSZIP may be used at all (WM5 and
	// earlier Pocket PCs need _setup.xml stored uncompressed).
	CABCompressOK bool
	// Legacy marks Windows Mobile profiles: SHA-1 chains, CAB packages.
	Legacy bool

	// EASVersion is the ActiveSync protocol version the device speaks.
	// Confirmed only for wm5 (2.5); the others are "as commonly reported".
	EASVersion string
	// DeviceType is what the device sends as DeviceType on every command:
	// servers key device records, quirks and policies on it.
	DeviceType string
	Heartbeat  Heartbeat
}

// RSA key-exchange suites Windows Mobile speaks. WM5 has no AES; WM6 adds it.
// The exact lists are unconfirmed (reference/windows-mobile.md section 5), so
// they are the table's, visible and changeable in one place. No DHE: WM6 broke
// against DHE-RSA-AES suites.
var (
	wm5Suites = []uint16{
		tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
		tls.TLS_RSA_WITH_RC4_128_SHA,
	}
	wm6Suites = []uint16{
		tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
		tls.TLS_RSA_WITH_RC4_128_SHA,
	}
	wmHeartbeat      = Heartbeat{Start: 480, Min: 480, Max: 1680, Step: 300}
	androidHeartbeat = Heartbeat{Start: 470, Min: 290, Max: 1010, Step: 180, NeverRaiseAfterDrop: true}
)

func wm(name, desc, eas string, suites []uint16, compress bool) Profile {
	return Profile{
		Name: name, Description: desc,
		Family: FamilyLegacy, MinRSABits: 2048,
		MinTLS: tls.VersionTLS10, MaxTLS: tls.VersionTLS10, Suites: suites,
		CABCompressOK: compress, Legacy: true,
		// Windows Mobile Professional (touch screen, the Pocket PC line)
		// sends PocketPC, the Standard edition SmartPhone; one table row
		// serves both, and the Professional phones are the common ones.
		EASVersion: eas, DeviceType: "PocketPC", Heartbeat: wmHeartbeat,
	}
}

// modern is a current client: SHA-2, RSA of 2048 bits or more, and ECDSA
// P-256, which iOS and Android accept as well (reference/trust-and-servers.md
// §1 [S]; only Windows Mobile refuses ECDSA).
func modern(name, desc, eas, deviceType string, maxDays int, hb Heartbeat) Profile {
	return Profile{
		Name: name, Description: desc,
		Family: FamilyModern, AllowEC: true, MinRSABits: 2048,
		AllowSHA2: true, Wildcards: true,
		MaxLeafDays: maxDays,
		MinTLS:      tls.VersionTLS12, MaxTLS: tls.VersionTLS13,
		EASVersion: eas, DeviceType: deviceType, Heartbeat: hb,
	}
}

// table is read-only; Get and All hand out copies.
var table = []Profile{
	wm("wm5", "Windows Mobile 5.0 (AKU2+): SHA-1 chain, RSA 2048, TLS 1.0, no AES, stored CABs", "2.5", wm5Suites, false),
	wm("wm6", "Windows Mobile 6.0/6.1: SHA-1 chain, RSA 2048, TLS 1.0", "12.0", wm6Suites, true),
	wm("wm65", "Windows Mobile 6.5: SHA-1 chain, RSA 2048, TLS 1.0", "12.1", wm6Suites, true),
	// Apple caps TLS server certificates at 825 days since iOS 13 and wants
	// the names in the SAN, SHA-2 and RSA of 2048 bits or more.
	modern("ios", "iPhone/iPad: SHA-256, RSA 2048+ or ECDSA P-256, TLS 1.2+, at most 825 days", "14.1", "iPhone", 825, Heartbeat{}),
	modern("android", "Android: SHA-256, RSA 2048+ or ECDSA P-256, TLS 1.2+", "14.1", "Android", 0, androidHeartbeat),
	// modern stands for the current clients that are not iPhones, which
	// run on Android and adapt their heartbeat as its client does.
	modern("modern", "current clients: ECDSA P-256 or RSA 2048+, SHA-256, TLS 1.2+", "14.1", "Android", 0, androidHeartbeat),
}

// Default is the profile used when none is named: the oldest devices, so a
// chain issued without thinking works everywhere.
const Default = "wm5"

// Get returns the named profile or an error listing the valid names.
func Get(name string) (Profile, error) {
	for _, p := range table {
		if p.Name == name {
			return p.clone(), nil
		}
	}
	return Profile{}, fmt.Errorf("unknown device profile %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// All returns every profile in table order.
func All() []Profile {
	out := make([]Profile, len(table))
	for i, p := range table {
		out[i] = p.clone()
	}
	return out
}

// Names returns the profile names in table order.
func Names() []string {
	out := make([]string, len(table))
	for i, p := range table {
		out[i] = p.Name
	}
	return out
}

func (p Profile) clone() Profile {
	p.Suites = append([]uint16(nil), p.Suites...)
	return p
}

// Strictest returns the profile among names that accepts the least: legacy
// beats modern, stored CABs beat MSZIP, no-wildcard beats wildcard. Bundles
// use it to make one Windows Mobile CAB that installs on every WM version a
// user lists; chains are chosen per family (FamilyFor), not by it.
func Strictest(names []string) (Profile, error) {
	if len(names) == 0 {
		return Get(Default)
	}
	ps := make([]Profile, 0, len(names))
	for _, n := range names {
		p, err := Get(n)
		if err != nil {
			return Profile{}, err
		}
		ps = append(ps, p)
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].rank() > ps[j].rank() })
	return ps[0], nil
}

func (p Profile) rank() int {
	r := 0
	if p.Legacy {
		r += 100
	}
	if !p.CABCompressOK {
		r += 10
	}
	if !p.Wildcards {
		r++
	}
	return r
}

// TLSVersionName returns "TLS 1.0" style names for reports.
func TLSVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLS 1.0"
	case tls.VersionTLS11:
		return "TLS 1.1"
	case tls.VersionTLS12:
		return "TLS 1.2"
	case tls.VersionTLS13:
		return "TLS 1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

// ValidityDays clamps a requested leaf lifetime to the profile's cap and
// reports whether it had to.
func (p Profile) ValidityDays(days int) (int, error) {
	if days <= 0 {
		return 0, fmt.Errorf("validity must be at least 1 day, got %d", days)
	}
	if p.MaxLeafDays > 0 && days > p.MaxLeafDays {
		return 0, fmt.Errorf("profile %s: devices reject server certificates valid for more than %d days (asked %d)", p.Name, p.MaxLeafDays, days)
	}
	return days, nil
}

// DefaultLeafLifetime is used when no --days is given.
const DefaultLeafLifetime = 397 * 24 * time.Hour
