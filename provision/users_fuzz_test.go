package provision

import (
	"encoding/binary"
	"strings"
	"testing"
)

// FuzzReadUsers feeds arbitrary bytes to the CSV reader: it must never
// panic, and whatever it accepts must be usable as is: checked names,
// distinct users in file order, safe and distinct folders.
func FuzzReadUsers(f *testing.F) {
	for _, s := range []string{
		"user\njdoe\n",
		"\ufeffuser,email,display_name,domain,devices\r\njdoe,j@x.org,J,CORP,wm5 ios\r\n",
		"user,devices\n\"a,b\",\"wm6;android\"\n\"x\"\"y\",\n",
		"user\nJDoe\njdoe\n",
		"user\n\"unterminated\n",
		"user,email\na\"b,c\n,\n" + hostile("") + ",\n",
		"devices,user\nwm9,x\n",
		"user;email;devices\r\njdoe;j@x.org;\"wm6;ios\"\r\nx;;wm6;ios\r\n",
		"user\temail\r\njdoe\tj@x.org\r\n",
		"user,email\na,a@\nb,@b\nc,x@y@z\nd,<x@y>\ne,J <j@x.org>\nf,\"\"\"q\"\"@x.org\"\n",
		"user\n" + strings.Repeat("x", 5000) + "\n",
		"PK\x03\x04user\n",
		"\xd0\xcf\x11\xe0",
	} {
		f.Add([]byte(s))
	}
	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		f.Add(utf16Text("user\tdisplay_name\r\njdoe\tJöhn 😀\r\n", order, true))
		f.Add(utf16Text("user;devices\njdoe;wm6\n", order, false))
		f.Add(append(utf16Text("user\n", order, true), 0xd8, 0x00))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		users, bad, err := ReadUsers(strings.NewReader(string(data)))
		if err != nil {
			if len(users) > 0 || len(bad) > 0 {
				t.Fatalf("error %v with results", err)
			}
			return
		}
		names, folders := map[string]bool{}, map[string]bool{}
		last := 1
		for _, u := range users {
			if u.Line <= last {
				t.Fatalf("line %d after %d", u.Line, last)
			}
			last = u.Line
			if err := (Account{Server: "mail.example.com", User: u.Name, Domain: u.Domain, Email: u.Email}).check(); err != nil {
				t.Fatalf("accepted user fails the account check: %v", err)
			}
			if names[strings.ToLower(u.Name)] {
				t.Fatalf("duplicate %q accepted", u.Name)
			}
			names[strings.ToLower(u.Name)] = true
			fo := u.Folder()
			if folders[strings.ToLower(fo)] || reservedName(fo) || strings.ContainsAny(fo, `/\:*?"<>| `) {
				t.Fatalf("folder %q for %q: unsafe or shared", fo, u.Name)
			}
			folders[strings.ToLower(fo)] = true
		}
		for _, e := range bad {
			if e.Line < 2 || e.Reason == "" {
				t.Fatalf("bad row without line or reason: %+v", e)
			}
			// Every value a message repeats is cut (clip), so a message
			// stays readable whatever the row held.
			if len(e.Error()) > 2000 {
				t.Fatalf("message of %d bytes: %.300s", len(e.Error()), e.Error())
			}
		}
	})
}
