package cab

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/smallstep/pkcs7"
)

// Verify checks a signed cabinet's Authenticode signature: that it signs
// this cabinet's digest, that the signature is good, and that its signer
// chains to roots for code signing at the current time. Go refuses SHA-1
// signatures on certificates, so a chain signed with SHA-1 fails here even
// where osslsigncode and Windows Mobile accept it; the SHA-1 digest of the
// cabinet itself is checked fine.
func Verify(cab []byte, roots *x509.CertPool) error {
	if roots == nil {
		return errors.New("cab: verify: no roots to check the signer against")
	}
	h, err := parseHeader(cab)
	if err != nil {
		return err
	}
	der, err := h.signature(cab)
	if err != nil {
		return err
	}
	if der == nil {
		return errors.New("cab: verify: cabinet is not signed")
	}
	idc, err := indirectData(der)
	if err != nil {
		return err
	}
	if !idc.Data.Type.Equal(oidSpcCabData) {
		return fmt.Errorf("cab: verify: signature is for data type %v, not a cabinet", idc.Data.Type)
	}
	hash, err := hashFor(idc.MessageDigest.DigestAlgorithm.Algorithm)
	if err != nil {
		return err
	}
	d := hash.New()
	for _, r := range digestRanges(cab, h.sigPos) {
		d.Write(r)
	}
	if !bytes.Equal(d.Sum(nil), idc.MessageDigest.Digest) {
		return errors.New("cab: verify: cabinet digest differs from the signed one: the cabinet changed after signing")
	}

	// The signed attributes, the signature and the chain go to pkcs7,
	// which reads the indirect data's content octets as the signed content,
	// as Authenticode wants.
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return fmt.Errorf("cab: verify: %w", err)
	}
	var ctype asn1.ObjectIdentifier
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeContentType, &ctype); err != nil || !ctype.Equal(oidSpcIndirectData) {
		return fmt.Errorf("cab: verify: signed content type is %v, want SPC_INDIRECT_DATA (%v)", ctype, err)
	}
	if err := p7.Verify(); err != nil {
		return fmt.Errorf("cab: verify: %w", err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return fmt.Errorf("cab: verify: %d signers, want one", len(p7.Signers))
	}
	inter := x509.NewCertPool()
	for _, c := range p7.Certificates {
		inter.AddCert(c)
	}
	_, err = signer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
	if err != nil {
		return fmt.Errorf("cab: verify: signer %q: %w", signer.Subject, err)
	}
	return nil
}

// indirectData returns the SpcIndirectDataContent a SignedData signs.
func indirectData(der []byte) (spcIndirectDataContent, error) {
	var idc spcIndirectDataContent
	var outer contentInfo
	if rest, err := asn1.Unmarshal(der, &outer); err != nil || len(rest) != 0 || !outer.ContentType.Equal(oidSignedData) {
		return idc, fmt.Errorf("cab: verify: signature is not a PKCS#7 SignedData (%v)", err)
	}
	// Only the fields up to the content: encoding/asn1 ignores the rest.
	var sd struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      contentInfo
	}
	if _, err := asn1.Unmarshal(outer.Content.Bytes, &sd); err != nil {
		return idc, fmt.Errorf("cab: verify: SignedData: %w", err)
	}
	if !sd.ContentInfo.ContentType.Equal(oidSpcIndirectData) {
		return idc, fmt.Errorf("cab: verify: signed content is %v, want SPC_INDIRECT_DATA", sd.ContentInfo.ContentType)
	}
	if _, err := asn1.Unmarshal(sd.ContentInfo.Content.Bytes, &idc); err != nil {
		return idc, fmt.Errorf("cab: verify: SpcIndirectDataContent: %w", err)
	}
	return idc, nil
}

func hashFor(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		if o, _ := digestOID(h); o.Equal(oid) {
			return h, nil
		}
	}
	return 0, fmt.Errorf("cab: verify: digest algorithm %v unsupported", oid)
}
