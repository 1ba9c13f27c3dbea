package cab

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// Authenticode and CMS object identifiers.
var (
	oidSignedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidRSA               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSAWithSHA1     = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSAWithSHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidSHA1              = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSpcIndirectData   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidSpcStatementType  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 11}
	oidSpcSpOpusInfo     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 12}
	oidIndividualSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 21}
	oidSpcCabData        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 25}
)

// contentInfo is CMS ContentInfo: the outer wrapper and the signed content.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	ContentInfo      contentInfo
	Certificates     asn1.RawValue // [0] IMPLICIT SET OF Certificate
	SignerInfos      []signerInfo  `asn1:"set"`
}

type signerInfo struct {
	Version                   int
	IssuerAndSerialNumber     issuerAndSerial
	DigestAlgorithm           pkix.AlgorithmIdentifier
	AuthenticatedAttributes   asn1.RawValue // [0] IMPLICIT SET OF Attribute
	DigestEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedDigest           []byte
}

type issuerAndSerial struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue // SET OF one value
}

// spcIndirectDataContent is what an Authenticode signature signs: the kind
// of file and its digest.
type spcIndirectDataContent struct {
	Data          spcAttributeTypeAndOptionalValue
	MessageDigest digestInfo
}

type spcAttributeTypeAndOptionalValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type digestInfo struct {
	DigestAlgorithm pkix.AlgorithmIdentifier
	Digest          []byte
}

// spcLinkObsolete is the SpcLink that osslsigncode and signtool put in a
// cabinet's indirect data: file [2] { unicode [0] BMPString "<<<Obsolete>>>" }.
const spcLinkObsolete = "\xa2\x1e\x80\x1c" +
	"\x00<\x00<\x00<\x00O\x00b\x00s\x00o\x00l\x00e\x00t\x00e\x00>\x00>\x00>"

// digestOID names the digests Sign offers: SHA-1, the only one Windows
// Mobile is known to check, and SHA-256 for everything newer.
func digestOID(h crypto.Hash) (asn1.ObjectIdentifier, error) {
	switch h {
	case crypto.SHA1:
		return oidSHA1, nil
	case crypto.SHA256:
		return oidSHA256, nil
	}
	return nil, fmt.Errorf("cab: digest %v unsupported, use SHA-1 or SHA-256", h)
}

// Sign returns cab with an Authenticode signature by key, whose certificate
// is chain[0]; the rest of chain (intermediates, optionally the root) goes
// into the signature so a device can build the path. hash is crypto.SHA1
// for Windows Mobile, crypto.SHA256 otherwise. cab must be unsigned and
// have no header reserve. With an RSA key the output is deterministic: the
// signature carries no signing time.
func Sign(cab []byte, key crypto.Signer, chain []*x509.Certificate, hash crypto.Hash) ([]byte, error) {
	digest, err := digestOID(hash)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, errors.New("cab: sign: no signing certificate")
	}
	leaf := chain[0]
	if !publicKeyEqual(key.Public(), leaf.PublicKey) {
		return nil, fmt.Errorf("cab: sign: key does not match certificate %q", leaf.Subject)
	}
	sigAlg, err := signatureOID(key.Public(), hash)
	if err != nil {
		return nil, err
	}
	b, err := addSignatureReserve(cab)
	if err != nil {
		return nil, err
	}
	h := hash.New()
	for _, r := range digestRanges(b, len(b)) {
		h.Write(r)
	}
	noParams := pkix.AlgorithmIdentifier{Algorithm: digest, Parameters: asn1.NullRawValue}
	idc, err := asn1.Marshal(spcIndirectDataContent{
		Data:          spcAttributeTypeAndOptionalValue{Type: oidSpcCabData, Value: asn1.RawValue{FullBytes: []byte(spcLinkObsolete)}},
		MessageDigest: digestInfo{DigestAlgorithm: noParams, Digest: h.Sum(nil)},
	})
	if err != nil {
		return nil, fmt.Errorf("cab: sign: %w", err)
	}
	attrs, err := signedAttributes(idc, hash)
	if err != nil {
		return nil, err
	}
	// The signature covers the attributes as a SET, not under their [0] tag.
	set, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: attrs})
	if err != nil {
		return nil, fmt.Errorf("cab: sign: %w", err)
	}
	h = hash.New()
	h.Write(set)
	sig, err := key.Sign(rand.Reader, h.Sum(nil), hash)
	if err != nil {
		return nil, fmt.Errorf("cab: sign with %q: %w", leaf.Subject, err)
	}
	var certs []byte
	for _, c := range chain {
		certs = append(certs, c.Raw...)
	}
	sd, err := asn1.Marshal(signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{noParams},
		ContentInfo:      contentInfo{ContentType: oidSpcIndirectData, Content: context0(idc)},
		Certificates:     context0(certs),
		SignerInfos: []signerInfo{{
			Version:                   1,
			IssuerAndSerialNumber:     issuerAndSerial{Issuer: asn1.RawValue{FullBytes: leaf.RawIssuer}, SerialNumber: leaf.SerialNumber},
			DigestAlgorithm:           noParams,
			AuthenticatedAttributes:   context0(attrs),
			DigestEncryptionAlgorithm: sigAlg,
			EncryptedDigest:           sig,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("cab: sign: %w", err)
	}
	der, err := asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: context0(sd)})
	if err != nil {
		return nil, fmt.Errorf("cab: sign: %w", err)
	}
	padded := (len(der) + 7) &^ 7
	if uint64(len(b))+uint64(padded) > 0xFFFFFFFF {
		return nil, fmt.Errorf("cab: sign: signed cabinet would pass 4 GiB: %w", ErrTooLarge)
	}
	le.PutUint32(b[44:], uint32(len(b)))
	le.PutUint32(b[48:], uint32(padded))
	b = append(b, der...)
	return append(b, make([]byte, padded-len(der))...), nil
}

// context0 wraps der in a constructed [0]: the EXPLICIT tag of a
// ContentInfo's content, or the IMPLICIT SET OF of certificates and signed
// attributes. encoding/asn1 ignores field tags on a RawValue it marshals,
// so the tag is built here.
func context0(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}

// addSignatureReserve returns a copy of cab with the 20-byte header reserve
// that holds the signature's place; every offset after it moves by 24.
func addSignatureReserve(cab []byte) ([]byte, error) {
	h, err := parseHeader(cab)
	if err != nil {
		return nil, err
	}
	if h.flags&flagReserve != 0 {
		return nil, errors.New("cab: sign: cabinet already has a header reserve (signed already?)")
	}
	if h.size != len(cab) {
		return nil, fmt.Errorf("cab: sign: %d bytes follow the cabinet's %d", len(cab)-h.size, h.size)
	}
	const grow = reserveFields + sigReserveSize
	if uint64(h.size)+grow > 0xFFFFFFFF {
		return nil, fmt.Errorf("cab: sign: cabinet too large for a reserve: %w", ErrTooLarge)
	}
	b := make([]byte, 0, len(cab)+grow+4096) // and room for a typical signature
	b = append(b, cab[:headerSize]...)
	le.PutUint32(b[8:], uint32(h.size+grow))
	le.PutUint32(b[16:], uint32(h.coffFiles+grow))
	le.PutUint16(b[30:], h.flags|flagReserve)
	b = le.AppendUint16(b, sigReserveSize)
	b = append(b, 0, 0) // cbCFFolder, cbCFData
	b = le.AppendUint32(b, sigReserveMarker)
	b = append(b, make([]byte, 16)...) // signature offset and length, set once known; two zero words
	for i := range h.nFolders {
		f := cab[headerSize+i*folderSize:][:folderSize]
		b = le.AppendUint32(b, le.Uint32(f)+grow)
		b = append(b, f[4:]...)
	}
	return append(b, cab[headerSize+h.nFolders*folderSize:]...), nil
}

// digestRanges are the parts of a signed cabinet its Authenticode digest
// covers, as osslsigncode hashes them. Left out: reserved1, iCabinet, the
// reserve sizes and the reserve's first 16 bytes (marker, signature offset
// and length, a zero word), since the offset and length are known only
// after signing.
func digestRanges(b []byte, sigPos int) [][]byte {
	return [][]byte{b[0:4], b[8:34], b[56:sigPos]}
}

// signedAttributes returns the DER of the signer's authenticated
// attributes, sorted as DER requires for a SET OF: the content type, the
// digest of the indirect data's content octets, the individual-signing
// statement type and an empty SpcSpOpusInfo, as signtool writes them.
func signedAttributes(idc []byte, hash crypto.Hash) ([]byte, error) {
	var content asn1.RawValue
	if _, err := asn1.Unmarshal(idc, &content); err != nil {
		return nil, fmt.Errorf("cab: sign: %w", err)
	}
	h := hash.New()
	h.Write(content.Bytes)
	values := []struct {
		oid   asn1.ObjectIdentifier
		value any
	}{
		{oidContentType, oidSpcIndirectData},
		{oidMessageDigest, h.Sum(nil)},
		{oidSpcStatementType, []asn1.ObjectIdentifier{oidIndividualSigning}},
		{oidSpcSpOpusInfo, asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true}},
	}
	var encoded [][]byte
	for _, v := range values {
		val, err := asn1.Marshal(v.value)
		if err != nil {
			return nil, fmt.Errorf("cab: sign: attribute %v: %w", v.oid, err)
		}
		a, err := asn1.Marshal(attribute{Type: v.oid, Values: asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: val}})
		if err != nil {
			return nil, fmt.Errorf("cab: sign: attribute %v: %w", v.oid, err)
		}
		encoded = append(encoded, a)
	}
	slices.SortFunc(encoded, bytes.Compare)
	return bytes.Join(encoded, nil), nil
}

// signatureOID names the signer's algorithm the way OpenSSL and signtool
// do: plain rsaEncryption for RSA, ecdsa-with-<hash> for ECDSA.
func signatureOID(pub crypto.PublicKey, hash crypto.Hash) (pkix.AlgorithmIdentifier, error) {
	switch pub.(type) {
	case *rsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidRSA, Parameters: asn1.NullRawValue}, nil
	case *ecdsa.PublicKey:
		if hash == crypto.SHA1 {
			return pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA1}, nil
		}
		return pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}, nil
	}
	return pkix.AlgorithmIdentifier{}, fmt.Errorf("cab: sign: %T keys are not used for Authenticode; use RSA or ECDSA", pub)
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
