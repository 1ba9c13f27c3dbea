package cab

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/x509"
	"io"
	"testing"
)

// FuzzRead feeds Read hostile cabinets: it must never panic, and whatever
// it accepts must survive a rebuild with the writer.
func FuzzRead(f *testing.F) {
	f.Add(mustHex(f, goldenHex))
	// Two MSZIP blocks in a few hundred bytes, small enough to mutate fast.
	text := bytes.Repeat([]byte("<parm name=\"HeartbeatMax\" value=\"1680\"/>\n"), 1000)
	multi, err := Build([]File{{Name: "a.xml", Data: text}, {Name: "b", Data: []byte("b")}}, Options{Compression: MSZIP})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(multi)
	golden := mustHex(f, goldenHex)
	f.Add(newPKI(f, x509.SHA256WithRSA).sign(f, golden, crypto.SHA256))

	f.Fuzz(func(t *testing.T, b []byte) {
		cab, err := ReadMax(b, 1<<20)
		if err != nil {
			return
		}
		if cab.Compression != None && cab.Compression != MSZIP {
			t.Fatalf("Compression %v", cab.Compression)
		}
		rebuilt, err := Build(cab.Files, Options{Compression: cab.Compression})
		if err != nil {
			return // names the writer refuses, such as the same one twice
		}
		again, err := Read(rebuilt)
		if err != nil {
			t.Fatalf("rebuilt cabinet does not read: %v", err)
		}
		for i, f := range cab.Files {
			if again.Files[i].Name != f.Name || !bytes.Equal(again.Files[i].Data, f.Data) {
				t.Fatalf("file %d %q changed in a rebuild", i, f.Name)
			}
		}
	})
}

// FuzzMSZIP checks the deflate encoder against compress/flate's decoder,
// written independently of it, on arbitrary blocks.
func FuzzMSZIP(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 1000))
	f.Add(sample(maxBlock, 6))
	f.Fuzz(func(t *testing.T, src []byte) {
		src = src[:min(len(src), maxBlock)]
		var d deflater
		out := d.mszip(nil, src)
		if string(out[:2]) != "CK" || len(out) > len(src)+7 {
			t.Fatalf("%d bytes became %d", len(src), len(out))
		}
		got, err := io.ReadAll(flate.NewReader(bytes.NewReader(out[2:])))
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("inflate: %v; %d bytes back of %d", err, len(got), len(src))
		}
	})
}
