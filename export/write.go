package export

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pushca/pushca/internal/atomicfile"
)

// Format is one kind of export.
type Format string

// The formats, as --format names them.
const (
	PFX       Format = "pfx"
	PFXLegacy Format = "pfx-legacy"
	PEM       Format = "pem"
	Nginx     Format = "nginx"
	Apache    Format = "apache"
	HAProxy   Format = "haproxy"
)

var formats = []Format{PFX, PFXLegacy, PEM, Nginx, Apache, HAProxy}

// ParseFormat returns the named format or an error listing the valid names.
func ParseFormat(s string) (Format, error) {
	for _, f := range formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown export format %q (valid: %s)", s, FormatNames())
}

// FormatNames lists the formats for help texts and errors.
func FormatNames() string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// NeedsPassword says whether the format encrypts under a password.
func (f Format) NeedsPassword() bool { return f == PFX || f == PFXLegacy }

// Kinds of files written.
const (
	KindRoot    = "root"
	KindCert    = "cert"  // the leaf alone
	KindChain   = "chain" // leaf and intermediate
	KindKey     = "key"   // unencrypted PKCS#8: servers start unattended
	KindPFX     = "pfx"
	KindPEM     = "pem" // chain and key in one file (HAProxy)
	KindConfig  = "config"
	KindCrtList = "crt-list"
	// KindOpenSSLConf lowers OpenSSL's default security level for a server
	// that loads certificates before its own cipher settings (HAProxy).
	KindOpenSSLConf = "openssl-conf"
)

// File is one file an export wrote.
type File struct {
	Path   string `json:"path"`
	Family string `json:"family,omitempty"`
	Kind   string `json:"kind"`
	data   []byte
}

// Options say what to write where.
type Options struct {
	Format Format
	// Out is the directory written to, created 0700 when missing. Files of
	// the same names in it are replaced.
	Out string
	// Password protects the PFX formats; the others ignore it.
	Password []byte
}

// Write writes h's chains in the format asked for and returns the files,
// all made before the first is written, so a failure writes nothing.
func Write(ctx context.Context, h *Host, opt Options) ([]File, error) {
	out, err := filepath.Abs(opt.Out)
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", opt.Out, err)
	}
	files, err := build(h, opt, out)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := atomicfile.MkdirAll(out); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := atomicfile.WriteFileNoDirSync(f.Path, f.data, atomicfile.FileMode); err != nil {
			return nil, err
		}
	}
	return files, atomicfile.SyncDir(out)
}

func build(h *Host, opt Options, out string) ([]File, error) {
	switch opt.Format {
	case PFX, PFXLegacy:
		if len(opt.Password) == 0 {
			return nil, fmt.Errorf("%s needs a password", opt.Format)
		}
		var files []File
		for _, c := range h.Chains {
			b, err := pfx(opt.Format, c, opt.Password)
			if err != nil {
				return nil, err
			}
			files = append(files, File{Path: filepath.Join(out, h.Name+"."+c.Family.Name+".pfx"), Family: c.Family.Name, Kind: KindPFX, data: b})
		}
		return files, nil
	case PEM:
		return pemFiles(h, out)
	case Nginx, Apache, HAProxy:
		return serverFiles(h, opt.Format, out)
	}
	return nil, fmt.Errorf("unknown export format %q (valid: %s)", opt.Format, FormatNames())
}

// pemFiles are the root and, per family, the leaf, the chain and the key.
func pemFiles(h *Host, out string) ([]File, error) {
	files := []File{{Path: filepath.Join(out, "root_ca.crt"), Kind: KindRoot, data: certsPEM(h.Root)}}
	for _, c := range h.Chains {
		key, err := keyPEM(c.Key)
		if err != nil {
			return nil, fmt.Errorf("%s %s key: %w", h.Name, c.Family.Name, err)
		}
		base := filepath.Join(out, h.Name+"."+c.Family.Name)
		files = append(files,
			File{Path: base + ".cert.pem", Family: c.Family.Name, Kind: KindCert, data: certsPEM(c.Leaf())},
			File{Path: base + ".chain.pem", Family: c.Family.Name, Kind: KindChain, data: certsPEM(c.Certs...)},
			File{Path: base + ".key.pem", Family: c.Family.Name, Kind: KindKey, data: key})
	}
	return files, nil
}
