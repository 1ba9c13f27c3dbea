package profile

import (
	"slices"
	"strings"
	"testing"
)

// Every profile names a family in the table that accepts it, and a legacy
// family serves exactly the legacy profiles: the two tables agree.
func TestFamilyTableAgreesWithProfiles(t *testing.T) {
	for _, p := range All() {
		f, err := GetFamily(p.Family)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if !p.Accepts(f) {
			t.Errorf("%s does not accept its own family %s", p.Name, f.Name)
		}
		if f.Legacy != p.Legacy {
			t.Errorf("%s: legacy %v, its family %s legacy %v", p.Name, p.Legacy, f.Name, f.Legacy)
		}
	}
	served := func(f string) string {
		fam, _ := GetFamily(f)
		var names []string
		for _, p := range ProfilesServedBy(fam) {
			names = append(names, p.Name)
		}
		return strings.Join(names, ",")
	}
	for f, want := range map[string]string{
		FamilyLegacy:    "wm5,wm6,wm65",
		FamilyModern:    "ios,android,modern",
		FamilyModernRSA: "ios,android,modern",
	} {
		if got := served(f); got != want {
			t.Errorf("%s serves %s, want %s", f, got, want)
		}
	}
	if _, err := GetFamily("sha3"); err == nil || !strings.Contains(err.Error(), "legacy, modern, modern-rsa") {
		t.Errorf("unknown family error should list names: %v", err)
	}
}

func TestFamilySelection(t *testing.T) {
	fams, err := FamiliesFor([]string{"ios", "wm5", "android", "wm6"})
	if err != nil || !slices.Equal(fams, []string{FamilyLegacy, FamilyModern}) {
		t.Errorf("FamiliesFor = %v, %v", fams, err)
	}
	if _, err := FamiliesFor([]string{"wm7"}); err == nil {
		t.Error("FamiliesFor accepted an unknown profile")
	}
	ios, _ := Get("ios")
	wm5, _ := Get("wm5")
	cases := []struct {
		p    Profile
		have []string
		want string
		ok   bool
	}{
		{ios, []string{FamilyLegacy, FamilyModern}, FamilyModern, true},
		{ios, []string{FamilyLegacy, FamilyModernRSA}, FamilyModernRSA, true},
		{ios, []string{FamilyLegacy}, "", false},
		{wm5, []string{FamilyModern, FamilyLegacy}, FamilyLegacy, true},
		{wm5, []string{FamilyModern, FamilyModernRSA}, "", false},
	}
	for _, tc := range cases {
		f, ok := FamilyFor(tc.p, tc.have)
		if ok != tc.ok || f.Name != tc.want {
			t.Errorf("FamilyFor(%s, %v) = %s %v, want %s %v", tc.p.Name, tc.have, f.Name, ok, tc.want, tc.ok)
		}
	}
	var names []string
	for _, p := range ProfilesOf([]string{FamilyLegacy}) {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "wm5,wm6,wm65" {
		t.Errorf("ProfilesOf(legacy) = %v", names)
	}
}
