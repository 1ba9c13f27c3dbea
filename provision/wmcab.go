package provision

import (
	"fmt"
	"time"

	"github.com/pushca/pushca/cab"
	"github.com/pushca/pushca/profile"
)

// CABOptions control how a Windows Mobile document is packaged.
type CABOptions struct {
	// Profile decides whether MSZIP is allowed and which digest a signature
	// uses; it must be a Windows Mobile profile.
	Profile profile.Profile
	// MSZIP compresses _setup.xml. Off by default: WM5 and earlier Pocket
	// PCs read only stored provisioning CABs, and the file is small anyway.
	MSZIP bool
	// Signer signs the package (Authenticode) and makes it a .cpf. A
	// signature helps only when its chain ends in a certificate already in
	// the device's SPC store: signing with the private CA itself does not
	// unlock a locked or two-tier device.
	Signer *Signer
}

// WMPackage is a provisioning cabinet ready to write.
type WMPackage struct {
	// Ext is ".cpf" when signed and ".cab" otherwise: an unsigned .cpf is
	// processed silently and fails on devices that prompt, and desktop
	// ActiveSync installs provisioning only from a .cab.
	Ext string
	// XML is the _setup.xml inside, Data the cabinet.
	XML, Data []byte
	// Warnings say why a device of the profile would reject the chain.
	Warnings []string
}

// Package renders the document and puts it, as the single file _setup.xml,
// into a cabinet.
//
// File times make the bytes reproducible: SOURCE_DATE_EPOCH when set, else
// the root's NotBefore when the document holds a chain (the same chain
// always gives the same package, and the date shown in a listing is when the
// CA was made), else the DOS epoch 1980-01-01. The wall clock is never used.
func (d WMDocument) Package(opt CABOptions) (WMPackage, error) {
	p := opt.Profile
	if !p.Legacy {
		return WMPackage{}, fmt.Errorf("profile %q: provisioning CABs are for Windows Mobile profiles (wm5, wm6, wm65)", p.Name)
	}
	comp := cab.None
	if opt.MSZIP {
		if !p.CABCompressOK {
			return WMPackage{}, fmt.Errorf("profile %s: MSZIP refused, these devices read only uncompressed provisioning CABs; package without compression", p.Name)
		}
		comp = cab.MSZIP
	}
	doc, err := d.XML()
	if err != nil {
		return WMPackage{}, err
	}
	var stamp time.Time
	if d.Chain != nil {
		stamp = d.Chain.Root.NotBefore.UTC()
	}
	b, err := cab.Build([]cab.File{{Name: "_setup.xml", Data: doc}},
		cab.Options{Compression: comp, Time: stamp, SourceDateEpoch: true})
	if err != nil {
		return WMPackage{}, fmt.Errorf("build provisioning CAB: %w", err)
	}
	pkg := WMPackage{Ext: ".cab", XML: doc, Data: b}
	if d.Chain != nil {
		pkg.Warnings = chainWarnings(p, *d.Chain)
	}
	if s := opt.Signer; s != nil {
		for _, c := range s.Chain {
			if err := p.CheckSignature(c.SignatureAlgorithm); err != nil {
				pkg.Warnings = append(pkg.Warnings, fmt.Sprintf("signing certificate %q: %v", c.Subject.CommonName, err))
			}
		}
		if pkg.Data, err = cab.Sign(b, s.Key, s.Chain, SignatureHash(p)); err != nil {
			return WMPackage{}, fmt.Errorf("sign provisioning CAB with %q: %w", s.Chain[0].Subject.CommonName, err)
		}
		pkg.Ext = ".cpf"
	}
	return pkg, nil
}

// chainWarnings are profile.Check's findings, reported rather than refused:
// an administrator may knowingly package a chain for a patched device.
func chainWarnings(p profile.Profile, c Chain) []string {
	var out []string
	for _, err := range p.Check(c.Root, profile.Root) {
		out = append(out, err.Error())
	}
	for _, ic := range c.Intermediates {
		for _, err := range p.Check(ic, profile.Intermediate) {
			out = append(out, err.Error())
		}
	}
	return out
}
