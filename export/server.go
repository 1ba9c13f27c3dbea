package export

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/templates"
)

// serverData is what the nginx, Apache and HAProxy templates fill in.
type serverData struct {
	Host     string
	Families string
	// Self is the snippet's own path, for the include line it suggests.
	Self            string
	Chains          []serverChain
	Protocols       []string
	HAProxyVersions string
	Ciphers         string
	Legacy          bool
	CrtList         string
	// OpenSSLConf is the OpenSSL configuration HAProxy needs for a legacy
	// chain, "" when none is needed.
	OpenSSLConf string
}

type serverChain struct {
	Family, Desc string
	// Chain and Key are the PEM files nginx and Apache read; PEM is both
	// in one file, as HAProxy reads them.
	Chain, Key, PEM string
}

// serverOrder puts the legacy chains first: HAProxy answers a client that
// sends no server name, as Windows Mobile does not, with the first.
func serverOrder(chains []Chain) []Chain {
	out := slices.Clone(chains)
	slices.SortStableFunc(out, func(a, b Chain) int {
		switch {
		case a.Family.Legacy == b.Family.Legacy:
			return 0
		case a.Family.Legacy:
			return -1
		}
		return 1
	})
	return out
}

// checkServable refuses chains a front end cannot serve side by side:
// nginx, Apache and HAProxy choose between certificates only by key type
// (reference §2), so two RSA chains (legacy and modern-rsa) cannot both be
// offered on one address.
func checkServable(f Format, chains []Chain) error {
	seen := map[string]string{}
	for _, c := range chains {
		kt := profile.KeyTypeOf(c.Leaf().PublicKey)
		if other, ok := seen[kt]; ok {
			return fmt.Errorf("families %s and %s both have %s keys, and %s chooses between certificates only by key type; export one of them with --family", other, c.Family.Name, kt, f)
		}
		seen[kt] = c.Family.Name
	}
	return nil
}

// checkConfigPath refuses a path the snippets would have to quote: each
// server quotes differently, and nginx expands $ in certificate paths.
func checkConfigPath(p string) error {
	if i := strings.IndexAny(p, " \t\r\n\"'\\$;#{}"); i >= 0 {
		return fmt.Errorf("--out %s: the configuration would have to quote %q; choose a directory without spaces, quotes, \\, $, ;, #, { or }", p, p[i])
	}
	return nil
}

func renderServer(name string, d serverData) ([]byte, error) {
	file := "server/" + name
	src, err := templates.Read(file)
	if err != nil {
		return nil, err
	}
	t, err := template.New(name).Funcs(template.FuncMap{"join": strings.Join}).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", file, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("template %s: %w", file, err)
	}
	return b.Bytes(), nil
}

// haproxyVersions spells the offer as HAProxy's bind options: a range
// only, since HAProxy ignores no-tlsv11 and the like once ssl-min-ver is
// set.
func (o offer) haproxyVersions() string {
	name := func(v uint16) string { return fmt.Sprintf("TLSv1.%d", v-tls.VersionTLS10) }
	return "ssl-min-ver " + name(o.versions[0]) + " ssl-max-ver " + name(o.versions[len(o.versions)-1])
}

// chainDesc says in a comment what a chain is and whom it serves.
func chainDesc(c Chain) string {
	var serves []string
	for _, p := range profile.ProfilesServedBy(c.Family) {
		serves = append(serves, p.Name)
	}
	leaf := c.Leaf()
	return fmt.Sprintf("%s, %s, serial %s, for %s", profile.KeyDesc(leaf.PublicKey), leaf.SignatureAlgorithm, leaf.SerialNumber, strings.Join(serves, ", "))
}

func familyNames(chains []Chain) string {
	names := make([]string, len(chains))
	for i, c := range chains {
		names[i] = c.Family.Name
	}
	return strings.Join(names, ", ")
}

// snippetName is the configuration file a server format writes.
func snippetName(host string, f Format) string {
	switch f {
	case Apache:
		return host + ".apache.conf"
	case HAProxy:
		return host + ".haproxy.cfg"
	}
	return host + ".nginx.conf"
}

func templateName(f Format) string {
	switch f {
	case Apache:
		return "apache.conf.tpl"
	case HAProxy:
		return "haproxy.cfg.tpl"
	}
	return "nginx.conf.tpl"
}

// serverFiles are the key, chain files and configuration snippet of a
// server format, the paths in the snippet absolute under out.
func serverFiles(h *Host, f Format, out string) ([]File, error) {
	if err := checkConfigPath(out); err != nil {
		return nil, err
	}
	chains := serverOrder(h.Chains)
	if err := checkServable(f, chains); err != nil {
		return nil, err
	}
	o := offerFor(chains)
	ciphers, err := o.cipherString()
	if err != nil {
		return nil, err
	}
	d := serverData{
		Host: h.Name, Families: familyNames(chains), Self: filepath.Join(out, snippetName(h.Name, f)),
		Protocols: o.versionNames(f == Apache), HAProxyVersions: o.haproxyVersions(), Ciphers: ciphers, Legacy: o.legacy,
		CrtList: filepath.Join(out, h.Name+".crt-list"),
	}
	if f == HAProxy && o.legacy {
		d.OpenSSLConf = filepath.Join(out, h.Name+".openssl.cnf")
	}
	var files []File
	var crtList []string
	for _, c := range chains {
		key, err := keyPEM(c.Key)
		if err != nil {
			return nil, fmt.Errorf("%s %s key: %w", h.Name, c.Family.Name, err)
		}
		base := filepath.Join(out, h.Name+"."+c.Family.Name)
		sc := serverChain{Family: c.Family.Name, Desc: chainDesc(c)}
		if f == HAProxy {
			sc.PEM = base + ".haproxy.pem"
			files = append(files, File{Path: sc.PEM, Family: c.Family.Name, Kind: KindPEM, data: append(certsPEM(c.Certs...), key...)})
			crtList = append(crtList, sc.PEM)
		} else {
			sc.Chain, sc.Key = base+".chain.pem", base+".key.pem"
			files = append(files,
				File{Path: sc.Chain, Family: c.Family.Name, Kind: KindChain, data: certsPEM(c.Certs...)},
				File{Path: sc.Key, Family: c.Family.Name, Kind: KindKey, data: key})
		}
		d.Chains = append(d.Chains, sc)
	}
	conf, err := renderServer(templateName(f), d)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: d.Self, Kind: KindConfig, data: conf})
	if f == HAProxy {
		files = append(files, File{Path: d.CrtList, Kind: KindCrtList, data: []byte(strings.Join(crtList, "\n") + "\n")})
	}
	if d.OpenSSLConf != "" {
		cnf, err := renderServer("openssl.cnf.tpl", d)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: d.OpenSSLConf, Kind: KindOpenSSLConf, data: cnf})
	}
	return files, nil
}
