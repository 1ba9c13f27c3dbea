package ca

import (
	"errors"
	"fmt"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/nosql"

	"github.com/pushca/pushca/profile"
)

// acmeChallenges are the challenges pushca's ACME provisioners offer. An
// ACME client proves a name by serving it where the CA connects; dns-01
// would need the CA's resolver to see the fleet's zone, and the one thing
// only dns-01 proves, a wildcard, the legacy family refuses anyway.
var acmeChallenges = []provisioner.ACMEChallenge{provisioner.HTTP_01, provisioner.TLS_ALPN_01}

// acmeProvisioner is a family's ACME provisioner, named after the family.
// It carries what the family's JWK provisioner carries (pushca's leaf
// template given the family's data, and its claims), so that an ACME order
// gets the leaf `cert issue` would sign, or the template's refusal.
func acmeProvisioner(f profile.Family, s Slot, crlURL string) (*provisioner.ACME, error) {
	peer, err := peerAuthority(f, s, crlURL)
	if err != nil {
		return nil, err
	}
	return &provisioner.ACME{
		Type: provisioner.TypeACME.String(),
		Name: f.Name,
		// certbot's requests carry no subject; Windows Mobile matches the
		// host against the CN, as pushca's own leaves carry it.
		ForceCN:    true,
		Challenges: acmeChallenges,
		Claims:     peer["claims"].(*provisioner.Claims),
		Options:    peer["options"].(*provisioner.Options),
	}, nil
}

// WithAuthority runs fn with the smallstep authority of the named family:
// the one that signs with that family's intermediate and knows its ACME
// provisioner. The CA is held meanwhile, so that no rotation or Close stops
// the authority under fn.
func (c *CA) WithAuthority(family string, fn func(*authority.Authority) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.db == nil {
		return errors.New("the CA is closed")
	}
	is := c.issuer(family)
	if is == nil || is.auth == nil {
		return fmt.Errorf("this CA has no %s chain family", family)
	}
	return fn(is.auth)
}

// StepDB is the database every family's authority shares: step-ca's ACME
// package keeps its tables there, beside step-ca's certificates and the
// inventory, as step-ca on config/ca-FAMILY.json does. It is valid until
// Close.
func (c *CA) StepDB() (nosql.DB, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.db == nil {
		return nil, errors.New("the CA is closed")
	}
	return c.db.DB, nil
}
