package ca

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/db"
	"go.step.sm/crypto/jose"

	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/templates"
)

// ProvisionerName is the JWK provisioner pushca writes into every family's
// step-ca configuration.
const ProvisionerName = "pushca"

// stepBackdate is what step-ca subtracts from NotBefore. The claims below
// leave room for it, so that a step-ca leaf, backdate included, stays within
// the family's cap as pushca's own leaves do.
const stepBackdate = time.Minute

// uncappedLeafDays is step-ca's ceiling for a family whose devices set
// none (legacy): step-ca needs one, and a leaf outliving a decade of
// intermediate rotations helps nobody.
const uncappedLeafDays = 3650

// stepConfig is the step-ca configuration pushca's own authorities start
// with: the first family's files and the shared database. pushca signs its
// own CRLs and checks its own rules, so none of the peer settings below are
// in it.
func stepConfig(l Layout, st State) *config.Config {
	return &config.Config{
		Root:             []string{l.RootCert()},
		IntermediateCert: l.IntermediateCert(Slot{}),
		IntermediateKey:  l.IntermediateKey(Slot{}),
		Address:          "127.0.0.1:9000",
		DNSNames:         []string{"localhost"},
		DB:               dbConfig(l, st),
		AuthorityConfig:  &config.AuthConfig{},
	}
}

// syncStepConfigs makes each family's step-ca configuration (config/ca.json
// for the first family, config/ca-FAMILY.json for the others) carry the
// family's rules in step-ca's own terms and name the files of the directory
// `at` is made into (final), so that `step-ca config/ca-FAMILY.json` issues
// only what pushca's self-check accepts and a copied directory never points
// at the original's key or bbolt file (a PostgreSQL database it names on
// purpose: operators share it). What an operator added (other
// provisioners, address, TLS, logging) is kept; only pushca's entries are
// set. A file is written only when it changes.
//
// The JWK provisioner's key is encrypted under a random password of its
// own (secrets/provisioner_password), never the CA password: step-ca
// publishes encrypted keys unauthenticated at /provisioners. The password
// file is written after the configurations, so a crash in between leaves no
// password that names a key no configuration holds.
func syncStepConfigs(at, final Layout, st State) error {
	abs, err := filepath.Abs(final.Dir)
	if err != nil {
		return err
	}
	final = Layout{Dir: abs}
	slots := st.slots()
	cfgs := make([]map[string]any, len(slots))
	var jwk *provisioner.JWK
	for i, s := range slots {
		if cfgs[i], err = readJSONMap(at.StepConfig(s)); err != nil {
			return err
		}
		if jwk == nil {
			jwk = findJWK(cfgs[i])
		}
	}
	var newPassword []byte
	if _, err := os.Stat(at.ProvisionerPassword()); errors.Is(err, fs.ErrNotExist) || jwk == nil {
		if jwk, newPassword, err = newJWK(); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("step-ca provisioner password: %w", err)
	}
	for i, s := range slots {
		f, err := profile.GetFamily(s.Family)
		if err != nil {
			return err
		}
		if err := setPeerConfig(cfgs[i], final, st, s, i, f, jwk); err != nil {
			return err
		}
		if err := writeJSONMap(at.StepConfig(s), cfgs[i]); err != nil {
			return err
		}
	}
	if newPassword == nil {
		return nil
	}
	return atomicfile.WriteFile(at.ProvisionerPassword(), newPassword, atomicfile.FileMode)
}

// newJWK makes the provisioner key and its password.
func newJWK() (*provisioner.JWK, []byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, nil, err
	}
	password := []byte(base64.RawURLEncoding.EncodeToString(raw))
	pub, jwe, err := jose.GenerateDefaultKeyPair(password)
	if err != nil {
		return nil, nil, fmt.Errorf("step-ca provisioner key: %w", err)
	}
	enc, err := jwe.CompactSerialize()
	if err != nil {
		return nil, nil, fmt.Errorf("step-ca provisioner key: %w", err)
	}
	return &provisioner.JWK{Type: "JWK", Name: ProvisionerName, Key: pub, EncryptedKey: enc}, password, nil
}

// findJWK returns pushca's provisioner in a configuration, nil when absent.
func findJWK(cfg map[string]any) *provisioner.JWK {
	auth, _ := cfg["authority"].(map[string]any)
	list, _ := auth["provisioners"].([]any)
	for _, p := range list {
		m, _ := p.(map[string]any)
		if m["type"] != "JWK" || m["name"] != ProvisionerName {
			continue
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil
		}
		var jwk provisioner.JWK
		if json.Unmarshal(b, &jwk) != nil || jwk.Key == nil || jwk.EncryptedKey == "" {
			return nil
		}
		return &jwk
	}
	return nil
}

// setPeerConfig sets pushca's entries in one family's configuration: its
// paths, its claims, the JWK provisioner and the family's ACME provisioner
// (served at /acme/FAMILY/directory).
func setPeerConfig(cfg map[string]any, l Layout, st State, s Slot, index int, f profile.Family, key *provisioner.JWK) error {
	crlURL := st.CRLURL
	cfg["root"] = l.RootCert()
	cfg["crt"] = l.IntermediateCert(s)
	cfg["key"] = l.IntermediateKey(s)
	if _, ok := cfg["address"]; !ok {
		// One port per family, so their configurations never collide.
		cfg["address"] = "127.0.0.1:" + strconv.Itoa(9000+index)
	}
	if _, ok := cfg["dnsNames"]; !ok {
		cfg["dnsNames"] = []any{"localhost"}
	}
	setDBConfig(cfg, dbConfig(l, st))
	// step-ca keeps one CRL per database, and only the first family's
	// intermediate may sign it; pushca's `ca crl` signs every family's.
	crl := &config.CRLConfig{Enabled: index == 0, GenerateOnRevoke: index == 0}
	if index == 0 {
		crl.IDPurl = crlURL
	}
	if err := setJSON(cfg, "crl", crl); err != nil {
		return err
	}
	auth, _ := cfg["authority"].(map[string]any)
	if auth == nil {
		auth = map[string]any{}
	}
	peer, err := peerAuthority(f, s, crlURL)
	if err != nil {
		return err
	}
	for _, k := range []string{"claims", "backdate"} {
		if err := setJSON(auth, k, peer[k]); err != nil {
			return err
		}
	}
	jwk := *key
	jwk.Options = peer["options"].(*provisioner.Options)
	acme, err := acmeProvisioner(f, s, crlURL)
	if err != nil {
		return err
	}
	ours := make([]any, 0, 2)
	for _, p := range []any{&jwk, acme} {
		var m any
		if err := setJSONValue(&m, p); err != nil {
			return err
		}
		ours = append(ours, m)
	}
	var list []any
	if old, ok := auth["provisioners"].([]any); ok {
		for _, p := range old {
			m, _ := p.(map[string]any)
			if m["type"] == "JWK" && m["name"] == ProvisionerName || m["type"] == acme.Type && m["name"] == acme.Name {
				continue
			}
			list = append(list, p)
		}
	}
	auth["provisioners"] = append(ours, list...)
	cfg["authority"] = auth
	return nil
}

// setDBConfig points a step-ca configuration at a database, keeping what
// else an operator set in its "db" section.
func setDBConfig(cfg map[string]any, d *db.Config) {
	dbc, _ := cfg["db"].(map[string]any)
	if dbc == nil {
		dbc = map[string]any{}
	}
	dbc["type"], dbc["dataSource"] = d.Type, d.DataSource
	cfg["db"] = dbc
}

// peerAuthority is a family's rules as step-ca states them: claims that cap
// the validity (backdate included, as Family.MaxLeafDays counts), and the
// provisioner's template, the very leaf template pushca signs with, given
// the family's keys, names, signature and CRL as data. The template, not
// step-ca's name policy, refuses wildcards: that policy refuses a literal
// wildcard only when it fails to match an allow list, and a fleet's CA has
// no list of every name it may sign. An operator's own "policy" in ca.json
// is kept.
func peerAuthority(f profile.Family, s Slot, crlURL string) (map[string]any, error) {
	r := rulesOf(f)
	def, err := r.days(f, 0)
	if err != nil {
		return nil, err
	}
	maxDays := f.MaxLeafDays
	for _, p := range r {
		if p.MaxLeafDays > 0 && (maxDays == 0 || p.MaxLeafDays < maxDays) {
			maxDays = p.MaxLeafDays
		}
	}
	if maxDays == 0 {
		maxDays = uncappedLeafDays
	}
	span := func(days int) *provisioner.Duration {
		return &provisioner.Duration{Duration: time.Duration(days)*24*time.Hour - stepBackdate - time.Second}
	}
	yes := true
	claims := &provisioner.Claims{
		DefaultTLSDur: span(def), MaxTLSDur: span(maxDays),
		DisableSmallstepExtensions: &yes,
	}
	if f.Legacy {
		// step-ca renews by copying the old certificate without a signature
		// algorithm, so a legacy leaf would come back SHA-256. Renew with
		// pushca.
		claims.DisableRenewal = &yes
	}
	tpl, err := templates.Read(leafTemplateName)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(leafData(f, r, crlURLFor(crlURL, s)))
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"claims":   claims,
		"backdate": &provisioner.Duration{Duration: stepBackdate},
		"options": &provisioner.Options{X509: &provisioner.X509Options{
			Template: string(tpl), TemplateData: data,
		}},
	}, nil
}

// leafData is what the leaf template reads besides the request: the keys
// and names the family's devices accept, its signature algorithm and CRL distribution
// point. It is top-level template data, which step-ca takes from the
// configuration and never from a token's user data.
func leafData(f profile.Family, r rules, crlURL string) map[string]any {
	allowEC, wildcards, minBits, maxBits := true, true, 0, 0
	for _, p := range r {
		allowEC = allowEC && p.AllowEC
		wildcards = wildcards && p.Wildcards
		minBits = max(minBits, p.MinRSABits)
		if p.Legacy {
			maxBits = profile.LegacyRSABits
		}
	}
	return map[string]any{
		"family":             f.Name,
		"allowEC":            allowEC,
		"wildcards":          wildcards,
		"minRSABits":         minBits,
		"maxRSABits":         maxBits,
		"signatureAlgorithm": sigAlgName(f.Signature),
		"crlURL":             crlURL,
	}
}

func setJSON(m map[string]any, key string, v any) error {
	var out any
	if err := setJSONValue(&out, v); err != nil {
		return err
	}
	m[key] = out
	return nil
}

// setJSONValue sets out to v as encoding/json reads it back: maps, slices
// and plain values, as the rest of a configuration read with readJSONMap.
func setJSONValue(out *any, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func readJSONMap(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read step-ca configuration: %w", err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("step-ca configuration %s: invalid JSON: %w", path, err)
	}
	return m, nil
}

func writeJSONMap(path string, m map[string]any) error {
	out, err := configJSON(path, m)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, out) {
		return nil
	}
	return atomicfile.WriteFile(path, out, atomicfile.FileMode)
}

// configJSON is a step-ca configuration file's content.
func configJSON(path string, m map[string]any) ([]byte, error) {
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("step-ca configuration %s: %w", path, err)
	}
	return append(out, '\n'), nil
}
