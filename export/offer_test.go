package export

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"testing"

	"github.com/pushca/pushca/profile"
)

// fakeChain is a chain of family f whose leaf has a key of f's type: all
// an offer looks at.
func fakeChain(t *testing.T, family string) Chain {
	t.Helper()
	f, err := profile.GetFamily(family)
	if err != nil {
		t.Fatal(err)
	}
	var pub any = &rsa.PublicKey{}
	if f.KeyType == profile.KeyEC {
		pub = &ecdsa.PublicKey{}
	}
	return Chain{Family: f, Certs: []*x509.Certificate{{PublicKey: pub}}}
}

func TestOfferPerFamilies(t *testing.T) {
	for _, tc := range []struct {
		families []string
		versions []string
		// want are OpenSSL names in the cipher string, not prefixes of
		// names that must not be there.
		want, not []string
		first     string
		seclevel  bool
	}{
		{[]string{"legacy", "modern"}, []string{"TLSv1", "TLSv1.2", "TLSv1.3"},
			[]string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "AES128-SHA", "AES256-SHA"}, nil,
			"ECDHE-ECDSA-", true},
		{[]string{"modern"}, []string{"TLSv1.2", "TLSv1.3"},
			[]string{"ECDHE-ECDSA-AES256-GCM-SHA384"}, []string{"ECDHE-RSA-", "AES", "DES-CBC3-SHA"},
			"ECDHE-ECDSA-", false},
		{[]string{"modern-rsa"}, []string{"TLSv1.2", "TLSv1.3"},
			[]string{"ECDHE-RSA-AES128-GCM-SHA256"}, []string{"ECDHE-ECDSA-", "AES"},
			"ECDHE-RSA-", false},
		// A Windows Mobile-only CA serves no device that speaks more.
		{[]string{"legacy"}, []string{"TLSv1"},
			[]string{"AES128-SHA", "DES-CBC3-SHA", "RC4-SHA"}, []string{"ECDHE-"},
			"AES128-SHA", true},
	} {
		var chains []Chain
		for _, f := range tc.families {
			chains = append(chains, fakeChain(t, f))
		}
		o := offerFor(chains)
		cs, err := o.cipherString()
		if err != nil {
			t.Fatalf("%v: %v", tc.families, err)
		}
		if got := o.versionNames(false); !slices.Equal(got, tc.versions) {
			t.Errorf("%v: versions %v, want %v", tc.families, got, tc.versions)
		}
		names := strings.Split(cs, ":")
		for _, w := range tc.want {
			if !slices.Contains(names, w) {
				t.Errorf("%v: %s lacks %s", tc.families, cs, w)
			}
		}
		for _, n := range tc.not {
			if slices.ContainsFunc(names, func(s string) bool { return strings.HasPrefix(s, n) }) {
				t.Errorf("%v: %s offers %s...", tc.families, cs, n)
			}
		}
		if !strings.HasPrefix(names[0], tc.first) {
			t.Errorf("%v: %s does not prefer %s", tc.families, cs, tc.first)
		}
		if strings.HasSuffix(cs, ":@SECLEVEL=0") != tc.seclevel || o.legacy != tc.seclevel {
			t.Errorf("%v: %s, legacy %v; want @SECLEVEL=0 only with a legacy family", tc.families, cs, o.legacy)
		}
		// AES before 3DES before RC4, whatever order the profiles list.
		if i, j := slices.Index(names, "AES256-SHA"), slices.Index(names, "DES-CBC3-SHA"); j >= 0 && i > j {
			t.Errorf("%v: 3DES preferred to AES: %s", tc.families, cs)
		}
	}
	// mod_ssl and HAProxy take only a range.
	o := offerFor([]Chain{fakeChain(t, "legacy"), fakeChain(t, "modern")})
	if got := o.versionNames(true); !slices.Equal(got, []string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}) {
		t.Errorf("gapless versions %v", got)
	}
	if got := o.haproxyVersions(); got != "ssl-min-ver TLSv1.0 ssl-max-ver TLSv1.3" {
		t.Errorf("HAProxy versions %q", got)
	}
}

// Every suite an offer can name has OpenSSL's name for it, as
// `openssl ciphers -stdname` pairs them. OpenSSL 3.0 lists neither 3DES nor
// RC4 in TLS at all, so those two names are taken as written.
func TestOpenSSLNames(t *testing.T) {
	listed := map[string]string{}
	for _, line := range strings.Split(openssl(t, "ciphers", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "-" {
			listed[f[0]] = f[2]
		}
	}
	var chains []Chain
	for _, f := range profile.FamilyNames() {
		chains = append(chains, fakeChain(t, f))
	}
	ids := offerFor(chains).suites
	for id := range opensslNames {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	unlisted := 0
	for _, id := range ids {
		iana, name := tls.CipherSuiteName(id), opensslNames[id]
		switch got, ok := listed[iana]; {
		case name == "":
			t.Errorf("%s is offered but has no OpenSSL name", iana)
		case ok && got != name:
			t.Errorf("%s: OpenSSL calls it %s, the table %s", iana, got, name)
		case !ok && id != tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA && id != tls.TLS_RSA_WITH_RC4_128_SHA:
			t.Errorf("%s (%s) is unknown to openssl ciphers", iana, name)
		case !ok:
			unlisted++
		}
	}
	if unlisted != 2 {
		t.Logf("openssl lists %d of 3DES and RC4 now; the comment in the snippets says none", 2-unlisted)
	}
}
