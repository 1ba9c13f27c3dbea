package provision

import (
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestChainsForPicksTheDeviceFamily(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	both := p.chains()
	legacyOnly := Chains{"legacy": both["legacy"]}
	modernOnly := Chains{"modern": both["modern"]}
	for _, tc := range []struct {
		name    string
		chains  Chains
		device  string
		inter   *x509.Certificate // nil: refused
		missing string
	}{
		{"wm5 on both", both, "wm5", p.inter, ""},
		{"wm65 on both", both, "wm65", p.inter, ""},
		{"ios on both", both, "ios", p.modern, ""},
		{"android on both", both, "android", p.modern, ""},
		{"ios on legacy", legacyOnly, "ios", nil, "modern"},
		{"android on legacy", legacyOnly, "android", nil, "modern"},
		{"wm6 on modern", modernOnly, "wm6", nil, "legacy"},
	} {
		c, err := tc.chains.For(tc.device)
		var fe *FamilyError
		switch {
		case tc.inter != nil && (err != nil || len(c.Intermediates) != 1 || !c.Intermediates[0].Equal(tc.inter)):
			t.Errorf("%s: chain %v, %v; want the %q intermediate", tc.name, c.Intermediates, err, tc.inter.Subject.CommonName)
		case tc.inter == nil && (!errors.As(err, &fe) || !slices.Equal(fe.Families, []string{tc.missing}) || !slices.Equal(fe.Devices, []string{tc.device})):
			t.Errorf("%s: %v, want a FamilyError naming %s and the %s family", tc.name, err, tc.device, tc.missing)
		}
	}
	if _, err := both.For("nokia"); err == nil || errors.As(err, new(*FamilyError)) {
		t.Errorf("unknown device kind: %v", err)
	}

	other := newPKIWithKeys(t, x509.SHA256WithRSA, 1, 0)
	for name, cs := range map[string]Chains{
		"two roots":      {"legacy": p.chain(), "modern": other.chains()["modern"]},
		"unknown family": {"legacy": p.chain(), "sha3": p.chain()},
		"none":           {},
	} {
		if err := cs.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := AnyFamily(other.chain()).check(); err != nil {
		t.Errorf("AnyFamily: %v", err)
	}
}

// A person whose phone would not trust the server's chain gets no package
// at all: the bundle refuses before writing, naming the line, the user, the
// device kinds and the family.
func TestBundleRefusesDevicesWithoutTheirFamily(t *testing.T) {
	b := testBundle(t)
	b.Chains = Chains{"legacy": b.Chains["legacy"]}
	dir := filepath.Join(t.TempDir(), "out")
	users := []User{
		{Line: 2, Name: "wmonly", Devices: []string{"wm6"}},
		{Line: 3, Name: "alice", Devices: []string{"android", "ios", "wm5"}},
	}
	_, err := b.Write(context.Background(), dir, users, nil)
	want := `line 3 (user "alice"): android, ios devices need the modern chain family, which this CA lacks`
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "wmonly") {
		t.Fatalf("error %v, want one line %q", err, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused bundle created %s: %v", dir, err)
	}
	if err := b.CheckUser(users[0]); err != nil {
		t.Errorf("wm6 on a legacy CA: %v", err)
	}
	if _, _, err := b.UserPage(users[1], func(n string) string { return n }); err == nil {
		t.Error("a user page for devices the CA cannot serve was built")
	}
}

func TestRootFilesOnlyForServedFamilies(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	all := []string{"wm5", "wm6", "wm65", "ios", "android"}
	for name, tc := range map[string]struct {
		chains Chains
		files  []string
		inters bool
	}{
		"legacy": {Chains{"legacy": p.chain()}, []string{"root.cab"}, true},
		"modern": {Chains{"modern": p.chains()["modern"]}, []string{"root.crt", "root.mobileconfig"}, false},
		"both":   {p.chains(), []string{"root.cab", "root.crt", "root.mobileconfig"}, true},
	} {
		files, view, err := Bundle{Chains: tc.chains, Devices: all}.RootFiles()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var names []string
		for n := range files {
			names = append(names, n)
		}
		slices.Sort(names)
		if !slices.Equal(names, tc.files) || view.Intermediates != tc.inters || view.SHA256 != SHA256(p.root).Colon() {
			t.Errorf("%s: files %q, view %+v; want %q, intermediates %v", name, names, view, tc.files, tc.inters)
		}
	}
}
