package export

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/ca"
)

func TestReadRefusesWhatItCannotExport(t *testing.T) {
	ctx := context.Background()
	dir := stateDir(t, "legacy", "modern")
	for _, tc := range []struct {
		host     string
		families []string
		want     string
	}{
		{"other.test", nil, "other.test has no server certificate"},
		{"../" + testHost, nil, "not a host name"},
		{"..", nil, "not a host name"},
		{testHost, []string{"modern-rsa"}, "no modern-rsa chain family"},
		{testHost, []string{"sha3"}, "unknown chain family"},
	} {
		if _, err := Read(ctx, dir, tc.host, tc.families...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Read %s %v: %v; want %q", tc.host, tc.families, err, tc.want)
		}
	}
	if _, err := Read(ctx, t.TempDir(), testHost); err == nil {
		t.Error("Read of a directory without a CA succeeded")
	}
	h, err := Read(ctx, dir, testHost, "modern")
	if err != nil || len(h.Chains) != 1 || h.Chains[0].Family.Name != "modern" {
		t.Fatalf("Read --family modern: %+v %v", h, err)
	}
	// What the "current" link names, read once for chain and key.
	slots, err := ca.ReadSlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(ca.Layout{Dir: dir}.ServerCurrent(testHost, slots[1]))
	if err != nil || h.Chains[0].Dir != want {
		t.Errorf("read from %s, want %s (%v)", h.Chains[0].Dir, want, err)
	}
}

// nginx, Apache and HAProxy choose between certificates only by key type:
// two RSA chains on one address would leave one never served.
func TestServerFormatsRefuseTwoChainsOfOneKeyType(t *testing.T) {
	h := &Host{Name: testHost, Chains: []Chain{fakeChain(t, "legacy"), fakeChain(t, "modern-rsa")}}
	for _, f := range []Format{Nginx, Apache, HAProxy} {
		if _, err := build(h, Options{Format: f}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "--family") {
			t.Errorf("%s of legacy and modern-rsa: %v", f, err)
		}
	}
	real := readHost(t, "legacy", "modern")
	if _, err := build(real, Options{Format: Nginx}, "/etc/nginx/my certs"); err == nil || !strings.Contains(err.Error(), `' '`) {
		t.Errorf("a path nginx would have to quote: %v", err)
	}
}

func TestPEMExportReplacesAtomically(t *testing.T) {
	ctx := context.Background()
	h := readHost(t, "legacy", "modern")
	out := filepath.Join(t.TempDir(), "a", "b")
	files, err := Write(ctx, h, Options{Format: PEM, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 7 || files[0].Kind != KindRoot {
		t.Fatalf("files %+v: want the root and three per family", files)
	}
	assertPrivate(t, out, files)
	for _, f := range files {
		if f.Kind != KindChain {
			continue
		}
		b, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := parsePEMCerts(b)
		if err != nil || len(certs) != 2 {
			t.Errorf("%s: %d certificates %v, want leaf and intermediate", f.Path, len(certs), err)
		}
	}
	// A second export, as a deploy hook makes after each renewal, replaces
	// the files in place.
	if err := os.WriteFile(files[1].Path, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := Write(ctx, h, Options{Format: PEM, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	assertPrivate(t, out, again)
	if b, _ := os.ReadFile(files[1].Path); bytes.Equal(b, []byte("stale")) {
		t.Error("second export left the old file")
	}
}

// The snippets name every chain, legacy first, and what the families need;
// the servers themselves load them in cmd/pushca's TestExportServers*.
func TestServerSnippets(t *testing.T) {
	// A CA whose first family is modern: the snippets still put legacy first.
	h := readHost(t, "legacy", "modern")
	mixed := &Host{Name: h.Name, Root: h.Root, Chains: []Chain{h.Chains[1], h.Chains[0]}}
	for _, tc := range []struct {
		f        Format
		families []string
		want     []string
	}{
		{Nginx, nil, []string{
			"ssl_certificate     " + "OUT/mail.test.legacy.chain.pem;\nssl_certificate_key OUT/mail.test.legacy.key.pem;\n",
			"ssl_certificate     OUT/mail.test.modern.chain.pem;",
			"ssl_protocols TLSv1 TLSv1.2 TLSv1.3;", ":@SECLEVEL=0;", "ssl_prefer_server_ciphers on;",
		}},
		{Apache, nil, []string{
			"SSLCertificateFile    OUT/mail.test.legacy.chain.pem\nSSLCertificateKeyFile OUT/mail.test.legacy.key.pem\n",
			"SSLCertificateFile    OUT/mail.test.modern.chain.pem",
			"SSLProtocol -all +TLSv1 +TLSv1.1 +TLSv1.2 +TLSv1.3\n", ":@SECLEVEL=0\n", "SSLHonorCipherOrder on",
		}},
		{HAProxy, nil, []string{
			"bind :443 ssl crt-list OUT/mail.test.crt-list", "OPENSSL_CONF=OUT/mail.test.openssl.cnf",
			"ssl-default-bind-options ssl-min-ver TLSv1.0 ssl-max-ver TLSv1.3\n", ":@SECLEVEL=0\n",
		}},
		{Nginx, []string{"modern"}, []string{"ssl_protocols TLSv1.2 TLSv1.3;", "ECDHE-ECDSA-AES256-SHA;"}},
		{HAProxy, []string{"modern"}, []string{"ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3\n"}},
	} {
		h := mixed
		if tc.families != nil {
			var err error
			if h, err = Read(context.Background(), stateDir(t, "legacy", "modern"), testHost, tc.families...); err != nil {
				t.Fatal(err)
			}
		}
		out := t.TempDir()
		files, err := build(h, Options{Format: tc.f}, out)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.f, tc.families, err)
		}
		var conf, crtList string
		kinds := map[string]int{}
		for _, f := range files {
			kinds[f.Kind]++
			switch f.Kind {
			case KindConfig:
				conf = strings.ReplaceAll(string(f.data), out, "OUT")
			case KindCrtList:
				crtList = strings.ReplaceAll(string(f.data), out, "OUT")
			}
		}
		for _, w := range tc.want {
			if !strings.Contains(conf, w) {
				t.Errorf("%s %v snippet lacks %q:\n%s", tc.f, tc.families, w, conf)
			}
		}
		if tc.families != nil && (strings.Contains(conf, "SECLEVEL") || strings.Contains(conf, "TLSv1 ") || kinds[KindOpenSSLConf] > 0) {
			t.Errorf("%s of a modern chain alone offers legacy settings:\n%s", tc.f, conf)
		}
		if tc.f == HAProxy && tc.families == nil {
			if crtList != "OUT/mail.test.legacy.haproxy.pem\nOUT/mail.test.modern.haproxy.pem\n" || kinds[KindPEM] != 2 || kinds[KindOpenSSLConf] != 1 {
				t.Errorf("HAProxy files %v, crt-list:\n%s", kinds, crtList)
			}
		}
	}
}
