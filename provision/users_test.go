package provision

import (
	"slices"
	"strings"
	"testing"
)

func TestReadUsersForms(t *testing.T) {
	want := []User{
		{Line: 2, Name: "jdoe", Email: "jdoe@example.com", DisplayName: "Jane Doe", Domain: "CORP", Devices: []string{"ios", "wm6"}},
		{Line: 4, Name: "asmith", Devices: nil},
	}
	for name, csv := range map[string]string{
		"LF":       "user,email,display name,domain,devices\njdoe,jdoe@example.com,Jane Doe,CORP,wm6 ios\n\nasmith,,,,\n",
		"CRLF+BOM": "\ufeffUser,E-mail,Display_Name,Domain,Devices\r\njdoe,jdoe@example.com,\"Jane Doe\",CORP,ios;wm6;ios\r\n\r\nasmith,,,,\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			users, bad, err := ReadUsers(strings.NewReader(csv))
			if err != nil || len(bad) > 0 {
				t.Fatalf("err %v, bad %v", err, bad)
			}
			if !slices.EqualFunc(users, want, func(a, b User) bool {
				return a.Line == b.Line && a.Name == b.Name && a.Email == b.Email && a.DisplayName == b.DisplayName &&
					a.Domain == b.Domain && slices.Equal(a.Devices, b.Devices)
			}) {
				t.Fatalf("got %+v\nwant %+v", users, want)
			}
		})
	}
}

func TestReadUsersReportsEveryBadRow(t *testing.T) {
	csv := strings.Join([]string{
		"user,email,devices",
		"good,,",
		",x@example.com,",             // 3 empty user
		"Good,,",                      // 4 duplicate, other case
		"nomail,not-an-address,",      // 5
		"dev,,wm7",                    // 6
		"tab\tname,,",                 // 7 control character
		"extra,,,surplus",             // 8
		"bad\"quote,,",                // 9 bare quote
		"fine2,fine2@example.com,ios", // 10
	}, "\n") + "\n"
	users, bad, err := ReadUsers(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Name != "good" || users[1].Name != "fine2" || users[1].Line != 10 {
		t.Fatalf("good rows: %+v", users)
	}
	want := map[int]string{3: "user is empty", 4: "duplicate user: line 2", 5: "no @", 6: `"wm7" is not one of`, 7: "control", 8: "4 fields", 9: "quote"}
	if len(bad) != len(want) {
		t.Fatalf("bad rows: %v", bad)
	}
	for _, e := range bad {
		if w, ok := want[e.Line]; !ok || !strings.Contains(e.Error(), w) {
			t.Errorf("line %d: %q, want it to say %q", e.Line, e.Error(), w)
		}
	}
}

func TestReadUsersRefusesUnusableFiles(t *testing.T) {
	for csv, want := range map[string]string{
		"":                    "empty file",
		"email,domain\nx,y\n": "no user column",
		"user,phone\nx,1\n":   `unknown column "phone"`,
		"user,User\nx,y\n":    "appears twice",
	} {
		if _, _, err := ReadUsers(strings.NewReader(csv)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", csv, err, want)
		}
	}
}

func TestFolderNamesAreSafeAndDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, n := range []string{"jdoe", "j.doe@example.com", "CORP\\jdoe", "../etc", "CON", "a b", "a_b", hostile(""), hostile("x"), "日本", "com1.txt", "x.", "-rf", "", "."} {
		f := User{Name: n}.Folder()
		if strings.ContainsAny(f, `/\: `) || strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") || reservedName(f) || len(f) > 64 {
			t.Errorf("%q: folder %q is not a safe file name", n, f)
		}
		if prev, dup := seen[f]; dup {
			t.Errorf("%q and %q share folder %q", prev, n, f)
		}
		seen[f] = n
	}
	if f := (User{Name: "jdoe"}).Folder(); f != "jdoe" {
		t.Errorf("a plain name should stay as it is, got %q", f)
	}
}
