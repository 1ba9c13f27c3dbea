package provision

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"fmt"

	"github.com/smallstep/pkcs7"
)

// Mobileconfig is an Apple configuration profile holding the root and,
// optionally, an Exchange account (without password: iOS asks for it).
type Mobileconfig struct {
	Chain Chain
	// Account nil makes a root-only profile.
	Account *Account
	// DisplayName, Organization and Description are what the install
	// screen shows; DisplayName and Description have defaults, an empty
	// Organization is left out.
	DisplayName, Organization, Description string
}

type payload struct {
	Identifier, UUID, DisplayName, Description string
}

type rootPayload struct {
	payload
	FileName, Data string
}

type easPayload struct {
	payload
	Host, UserName, Email string
}

// Plist renders the unsigned profile and parse-checks it.
func (m Mobileconfig) Plist() ([]byte, error) {
	if err := m.Chain.check(); err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, v string }{{"display name", m.DisplayName}, {"organization", m.Organization}, {"description", m.Description}} {
		if err := checkText(f.name, f.v); err != nil {
			return nil, err
		}
	}
	root := m.Chain.Root
	fp := SHA256(root).Plain()
	// The identifier names the profile on the device: the same host and
	// user (or the same root) always replace the installed profile.
	key := []string{"root", fp}
	name := "Root certificate " + root.Subject.CommonName
	desc := "Installs the root certificate \"" + root.Subject.CommonName + "\" (SHA-256 " + SHA256(root).Colon() + ")."
	if a := m.Account; a != nil {
		if err := a.check(); err != nil {
			return nil, err
		}
		key = []string{"account", a.Server, a.User}
		name = "Exchange " + a.Server
		desc += " Adds the Exchange account " + a.User + " on " + a.Server + "; the device asks for its password."
	}
	id := "pushca." + uuid5(append([]string{"identifier"}, key...)...)
	v := struct {
		payload
		Organization string
		Root         rootPayload
		EAS          *easPayload
	}{
		payload: payload{
			Identifier:  id,
			UUID:        uuid5(append(key, fp, "profile")...),
			DisplayName: or(m.DisplayName, name),
			Description: or(m.Description, desc),
		},
		Organization: m.Organization,
		Root: rootPayload{
			payload: payload{
				Identifier:  id + ".root",
				UUID:        uuid5(append(key, fp, "root")...),
				DisplayName: root.Subject.CommonName,
				Description: "Root certificate of the Exchange server's private CA.",
			},
			FileName: "root_ca.cer",
			Data:     base64.StdEncoding.EncodeToString(root.Raw),
		},
	}
	if a := m.Account; a != nil {
		user := a.User
		if a.Domain != "" {
			// Apple's payload has no domain key; Exchange accepts DOMAIN\user.
			user = a.Domain + `\` + a.User
		}
		v.EAS = &easPayload{
			payload: payload{
				Identifier:  id + ".eas",
				UUID:        uuid5(append(key, fp, "eas")...),
				DisplayName: "Exchange (" + a.Server + ")",
				Description: "Exchange ActiveSync account; the password is asked on the device.",
			},
			Host: a.Server, UserName: user, Email: a.Email,
		}
	}
	t, err := mobileconfigTemplate()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("render mobileconfig: %w", err)
	}
	if err := parseCheck("mobileconfig", b.Bytes()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// SignMobileconfig wraps a profile in CMS SignedData with the plist
// attached, which iOS shows as "Verified" when it trusts the signer's chain.
// The signing time makes signed bytes differ from run to run.
func SignMobileconfig(plist []byte, s *Signer, hash crypto.Hash) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(plist)
	if err != nil {
		return nil, fmt.Errorf("sign mobileconfig: %w", err)
	}
	switch hash {
	case crypto.SHA256:
		sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	case crypto.SHA1:
		sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA1)
	default:
		return nil, fmt.Errorf("sign mobileconfig: unsupported hash %v", hash)
	}
	// AddSigner, not AddSignerChain: the latter verifies the chain with Go's
	// x509, which refuses the SHA-1 signatures of a Windows Mobile CA.
	if err := sd.AddSigner(s.Chain[0], s.Key, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("sign mobileconfig with %q: %w", s.Chain[0].Subject.CommonName, err)
	}
	for _, c := range s.Chain[1:] {
		sd.AddCertificate(c)
	}
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("sign mobileconfig: %w", err)
	}
	return der, nil
}

func or(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}
