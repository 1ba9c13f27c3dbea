package provision

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
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

// utf16Text encodes s as UTF-16 in order, with a byte-order mark when bom.
func utf16Text(s string, order binary.AppendByteOrder, bom bool) []byte {
	var b []byte
	if bom {
		b = order.AppendUint16(b, 0xfeff)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return b
}

func sameUsers(a, b User) bool {
	return a.Line == b.Line && a.Name == b.Name && a.Email == b.Email && a.DisplayName == b.DisplayName &&
		a.Domain == b.Domain && slices.Equal(a.Devices, b.Devices)
}

// TestReadUsersSavedByExcel reads the list as Excel saves it in other
// locales and formats: semicolons where the comma is the decimal
// separator, and "Unicode Text" (UTF-16, tab-separated).
func TestReadUsersSavedByExcel(t *testing.T) {
	want := []User{
		{Line: 2, Name: "jdoe", Email: "jdoe@example.com", DisplayName: "Jöhn 😀 Doe, Jr.", Domain: "CORP", Devices: []string{"ios", "wm6"}},
		{Line: 3, Name: "asmith"},
	}
	semicolon := "User;E-mail;Display name;Domain;Devices\r\njdoe;jdoe@example.com;Jöhn 😀 Doe, Jr.;CORP;\"wm6;ios\"\r\nasmith;;;;\r\n"
	tabs := "User\tE-mail\tDisplay name\tDomain\tDevices\r\njdoe\tjdoe@example.com\t\"Jöhn 😀 Doe, Jr.\"\tCORP\twm6 ios\r\nasmith\t\t\t\t\r\n"
	for name, data := range map[string][]byte{
		"semicolons":                  []byte(semicolon),
		"semicolons, UTF-8 BOM":       []byte("\ufeff" + semicolon),
		"Unicode Text":                utf16Text(tabs, binary.LittleEndian, true),
		"UTF-16 big-endian":           utf16Text(tabs, binary.BigEndian, true),
		"UTF-16 without BOM":          utf16Text(tabs, binary.LittleEndian, false),
		"UTF-16 with commas":          utf16Text(strings.ReplaceAll(tabs, "\t", ","), binary.LittleEndian, true),
		"UTF-16 big-endian, no BOM":   utf16Text(tabs, binary.BigEndian, false),
		"semicolons, devices by ','":  []byte(strings.Replace(semicolon, `"wm6;ios"`, "wm6,ios", 1)),
		"semicolons, LF, no trailing": []byte(strings.TrimSuffix(strings.ReplaceAll(semicolon, "\r\n", "\n"), "\n")),
	} {
		t.Run(name, func(t *testing.T) {
			users, bad, err := ReadUsers(bytes.NewReader(data))
			if err != nil || len(bad) > 0 {
				t.Fatalf("err %v, bad %v", err, bad)
			}
			if !slices.EqualFunc(users, want, sameUsers) {
				t.Fatalf("got %+v\nwant %+v", users, want)
			}
		})
	}

	// A semicolon file whose devices cell lists kinds by ';' unquoted says
	// what to do about it.
	_, bad, err := ReadUsers(strings.NewReader("user;devices\njdoe;wm6;ios\n"))
	if err != nil || len(bad) != 1 || !strings.Contains(bad[0].Error(), `line 2 (user "jdoe"): 3 fields, the header names 2; the file is separated by ';', so put a devices cell`) {
		t.Errorf("unquoted ';' in a semicolon file: %v %v", bad, err)
	}
}

// TestReadUsersRefusesWhatIsNotCSVText: a workbook picked instead of its
// CSV export, and UTF-16 that does not decode, are refused with what to
// do, before any row is read.
func TestReadUsersRefusesWhatIsNotCSVText(t *testing.T) {
	broken := utf16Text("user\njdoe\n", binary.LittleEndian, true)
	broken = append(broken, 0x00, 0xd8, 'x', 0) // a high surrogate, then 'x'
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"xlsx":           {[]byte("PK\x03\x04\x14\x00\x06\x00"), `Excel workbook (.xlsx) or another zip file, not CSV: in the spreadsheet, Save As "CSV UTF-8`},
		"xls":            {[]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), "Excel 97-2003 workbook (.xls)"},
		"lone surrogate": {broken, `line 3: broken UTF-16 (a lone surrogate); save the file as "CSV UTF-8"`},
		"odd length":     {append(utf16Text("user\n", binary.LittleEndian, true), 'x'), "odd number of bytes"},
	} {
		users, bad, err := ReadUsers(bytes.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) || users != nil || bad != nil {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// TestReadUsersLongValueIsCutInErrors: a 50,000-character user name (a
// pasted file) is refused with the start of it, not echoed whole.
func TestReadUsersLongValueIsCutInErrors(t *testing.T) {
	long := strings.Repeat("x", 50000)
	csv := "user,email,devices\n" + long + ",,\njdoe," + long + "@example.com,\nasmith,,wm6 " + long + "\n"
	_, bad, err := ReadUsers(strings.NewReader(csv))
	if err != nil || len(bad) != 3 {
		t.Fatalf("bad %v, err %v", len(bad), err)
	}
	for _, e := range bad {
		if msg := e.Error(); len(msg) > 400 {
			t.Errorf("line %d: %d bytes: %.500s", e.Line, len(msg), msg)
		}
	}
	if msg := bad[0].Error(); !strings.HasPrefix(msg, `line 2 (user "`+strings.Repeat("x", maxEcho)+`"… (50000 characters)): user: 50000 characters, at most 1024`) {
		t.Errorf("long user: %s", msg)
	}
}

// TestReadUsersRefusesBadEmail: what net/mail cannot read as one bare
// address is refused, each row with its line.
func TestReadUsersRefusesBadEmail(t *testing.T) {
	good := []string{"jane.doe@example.com", "o'brien&co+{x}@example.com", "jöhn@exämple.de", "a@b"}
	bad := map[string]string{
		"a@":                          "not an address",
		"@b":                          "not an address",
		"x@y@z":                       "not an address",
		"<x@y>":                       `give the bare address "x@y"`,
		"Jane Doe <jane@example.com>": `give the bare address "jane@example.com"`,
		"jane@example.com (home)":     `give the bare address "jane@example.com"`,
		`"jane doe"@example.com`:      "give the bare address",
		"jane@example.com, x@y.org":   "not an address",
		"jane":                        "no @",
	}
	addrs := slices.Concat(good, slices.Sorted(maps.Keys(bad)))
	var csv strings.Builder
	csv.WriteString("user,email\n")
	for i, a := range addrs {
		fmt.Fprintf(&csv, "u%d,\"%s\"\n", i, strings.ReplaceAll(a, `"`, `""`))
	}
	users, errs, err := ReadUsers(strings.NewReader(csv.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != len(good) {
		t.Errorf("accepted %d, want the %d good ones: %+v", len(users), len(good), users)
	}
	for _, e := range errs {
		addr := addrs[e.Line-2]
		if want, ok := bad[addr]; !ok || !strings.Contains(e.Error(), "email ") || !strings.Contains(e.Error(), want) {
			t.Errorf("line %d %q: %v, want %q", e.Line, addr, e, want)
		}
	}
	if len(errs) != len(bad) {
		t.Errorf("refused %d rows, want %d: %v", len(errs), len(bad), errs)
	}
}
