package ca

import (
	"context"
	"sort"
	"strings"
	"testing"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// zlintAllowed are the lints a private CA's modern chain fails by design,
// each with the reason; every other error, warning or fatal result fails
// the test. They are public-trust (CA/Browser Forum) rules: a private root
// installed by hand is not in any root programme.
var zlintAllowed = map[string]string{
	// Ballot SC-081 shortens publicly trusted TLS certificates to 200 days
	// from March 2026; iOS caps privately trusted ones at 825 (HT210176).
	"e_server_cert_valid_time_longer_than_200_days": "public-trust lifetime; iOS allows 825 days for private roots",
	"w_server_cert_valid_time_longer_than_199_days": "public-trust lifetime; iOS allows 825 days for private roots",
	// pushca runs no OCSP responder and publishes no issuer certificate by
	// URL: servers send the intermediate in their chain.
	"e_sub_cert_aia_missing":                         "no OCSP responder or caIssuers URL in a private CA",
	"w_sub_cert_aia_does_not_contain_issuing_ca_url": "no caIssuers URL in a private CA",
	"w_sub_ca_aia_missing":                           "no OCSP responder or caIssuers URL in a private CA",
	// Baseline Requirements policy OIDs assert a CA/B Forum audit: a
	// private CA claiming them would be false.
	"e_sub_cert_cert_policy_empty":            "CA/B policy OIDs are for audited public CAs",
	"e_sub_cert_certificate_policies_missing": "CA/B policy OIDs are for audited public CAs",
	"e_invalid_ca_certificate_policies":       "CA/B policy OIDs are for audited public CAs",
	"e_sub_ca_certificate_policies_missing":   "CA/B policy OIDs are for audited public CAs",
	// The Baseline Requirements' subject rules for CAs; pushca names its
	// CAs by common name only.
	"e_ca_country_name_missing":      "public-CA subject rule",
	"e_ca_organization_name_missing": "public-CA subject rule",
	// A BR recommendation for subscriber certificates; RFC 5280 says SHOULD.
	"w_ext_subject_key_identifier_not_recommended_subscriber": "RFC 5280 recommends it",
	// Every family's leaf names the host in the CN too: Windows Mobile and
	// other old clients read it, and one host's leaves stay alike.
	"w_subject_common_name_included": "old clients read the CN",
}

// Every modern-family leaf and intermediate passes zlint (an independent
// linter of RFC 5280 and CA/B Forum rules) but for the allowlist.
func TestModernChainPassesZlint(t *testing.T) {
	for _, fam := range []string{"modern", "modern-rsa"} {
		t.Run(fam, func(t *testing.T) {
			// With a CRL URL, as a CA with revocation published has.
			c := newCAWith(t, InitOptions{Families: []string{"legacy", fam}, Password: testPassword, CRLURL: "http://mail.example.com/pushca.crl"})
			is, err := c.Issue(context.Background(), IssueRequest{Host: "mail.example.com", DNS: []string{"autodiscover.example.com"}, Families: []string{fam}})
			if err != nil {
				t.Fatal(err)
			}
			for i, cert := range is[0].Chain {
				zc, err := zx509.ParseCertificate(cert.Raw)
				if err != nil {
					t.Fatalf("zcrypto cannot parse %s: %v", cert.Subject.CommonName, err)
				}
				res := zlint.LintCertificateEx(zc, lint.GlobalRegistry())
				var bad []string
				for name, r := range res.Results {
					if r.Status < lint.Warn {
						continue
					}
					if _, ok := zlintAllowed[name]; ok {
						continue
					}
					bad = append(bad, name+": "+r.Status.String()+" "+r.Details)
				}
				sort.Strings(bad)
				if len(bad) > 0 {
					t.Errorf("%s (%s) fails zlint:\n  %s", []string{"leaf", "intermediate"}[i], cert.Subject.CommonName, strings.Join(bad, "\n  "))
				}
			}
		})
	}
}
