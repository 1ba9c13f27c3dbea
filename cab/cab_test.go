package cab

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// From reference/test-vectors.md, made with gcab 1.5.
const goldenHex = "4d534346000000006600000000000000" + "2c000000000000000301010001000000" + "00000000" +
	"470000000100" + "0000" +
	"170000000000000000002134000020005f73657475702e786d6c00" +
	"725a5e7b17001700" + "3c7761702d70726f766973696f6e696e67646f632f3e0a"

const goldenSHA256 = "891e84f6287ea7cd0d161c61aedf1edcb51fa10c19ba022c3d09390d241e52d0"

var goldenTime = time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)

func goldenFiles() []File {
	return []File{{Name: "_setup.xml", Data: []byte("<wap-provisioningdoc/>\n")}}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChecksumVectors(t *testing.T) {
	for in, want := range map[string]uint32{
		"": 0, "A": 0x41, "AB": 0x4142, "ABC": 0x414243, "ABCD": 0x44434241, "ABCDE": 0x44434204,
	} {
		if got := checksum([]byte(in), 0); got != want {
			t.Errorf("checksum(%q) = %#08x, want %#08x", in, got, want)
		}
	}
	// The golden cabinet's only block.
	data := []byte("<wap-provisioningdoc/>\n")
	if got := blockChecksum(data, 23, 23); got != 0x7b5e5a72 {
		t.Errorf("golden block checksum = %#08x, want 0x7b5e5a72", got)
	}
}

func TestBuildGolden(t *testing.T) {
	got, err := Build(goldenFiles(), Options{Time: goldenTime})
	if err != nil {
		t.Fatal(err)
	}
	want := mustHex(t, goldenHex)
	if sum := sha256.Sum256(want); hex.EncodeToString(sum[:]) != goldenSHA256 {
		t.Fatalf("golden hex transcribed wrongly: sha256 %x", sum)
	}
	if string(got) != string(want) {
		t.Fatalf("Build differs from the golden cabinet\n got %x\nwant %x", got, want)
	}
	var w bytes.Buffer
	if err := Write(&w, goldenFiles(), Options{Time: goldenTime}); err != nil || !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("Write: %v\n got %x\nwant %x", err, w.Bytes(), want)
	}
}

func TestDOSDateTime(t *testing.T) {
	for _, c := range []struct {
		t           time.Time
		date, clock uint16
	}{
		{goldenTime, 0x3421, 0},
		{time.Time{}, 0x0021, 0},                                           // zero: DOS epoch
		{time.Unix(0, 0).UTC(), 0x0021, 0},                                 // SOURCE_DATE_EPOCH=0
		{time.Date(2107, 12, 31, 23, 59, 59, 0, time.UTC), 0xFF9F, 0xBF7D}, // last encodable, seconds halved
	} {
		date, clock, err := dosDateTime(c.t)
		if err != nil || date != c.date || clock != c.clock {
			t.Errorf("dosDateTime(%v) = %#04x %#04x %v, want %#04x %#04x", c.t, date, clock, err, c.date, c.clock)
		}
	}
	if _, _, err := dosDateTime(time.Date(2108, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("2108 encoded without error")
	}
}

func TestSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1136073600") // 2006-01-01 00:00:00 UTC
	got, err := Build(goldenFiles(), Options{Time: time.Date(2020, 5, 5, 0, 0, 0, 0, time.UTC), SourceDateEpoch: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(mustHex(t, goldenHex)) {
		t.Errorf("SOURCE_DATE_EPOCH not applied: %x", got)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := Build(goldenFiles(), Options{SourceDateEpoch: true}); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("malformed SOURCE_DATE_EPOCH: err = %v", err)
	}
}
