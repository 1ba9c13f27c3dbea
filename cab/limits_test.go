package cab

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

// TestBuildLimits checks that Build refuses what the format cannot hold,
// each with an error that names the problem.
func TestBuildLimits(t *testing.T) {
	tooMany := make([]File, maxFiles+1)
	for i := range tooMany {
		tooMany[i].Name = fmt.Sprintf("f%05d", i)
	}
	// 65 files sharing one 32 MiB slice pass the 2 GiB a folder holds
	// without allocating it.
	shared := make([]byte, 32<<20)
	huge := make([]File, 65)
	for i := range huge {
		huge[i] = File{Name: fmt.Sprintf("part%02d", i), Data: shared}
	}
	for _, c := range []struct {
		name     string
		files    []File
		opt      Options
		want     string
		tooLarge bool
	}{
		{"no files", nil, Options{}, "no files", false},
		{"empty name", []File{{Name: "a"}, {Name: ""}}, Options{}, `file 1 "": empty name`, false},
		{"NUL in name", []File{{Name: "a\x00b"}}, Options{}, "NUL", false},
		{"256-byte name", []File{{Name: strings.Repeat("n", 256)}}, Options{}, "256 bytes, the limit is 255", true},
		{"invalid UTF-8", []File{{Name: "\xff.xml"}}, Options{}, "not valid UTF-8", false},
		{"same name twice", []File{{Name: "a"}, {Name: "a"}}, Options{}, "used twice", false},
		{"65536 files", tooMany, Options{}, "65536 files", true},
		{"over 2 GiB", huge, Options{}, "a folder of 65535 blocks holds 2147450880", true},
		{"after 2107", []File{{Name: "a", Time: time.Date(2108, 1, 1, 0, 0, 0, 0, time.UTC)}}, Options{}, "after 2107", false},
		{"LZX", []File{{Name: "a"}}, Options{Compression: 3}, "unsupported compression", false},
	} {
		_, err := Build(c.files, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "cab: ") {
			t.Errorf("%s: err = %v, want one containing %q", c.name, err, c.want)
		}
		if errors.Is(err, ErrTooLarge) != c.tooLarge {
			t.Errorf("%s: errors.Is(err, ErrTooLarge) = %v", c.name, !c.tooLarge)
		}
	}
}

// TestBuildAtLimits writes cabinets right at the limits Build enforces and
// has cabextract test them: 65535 files, a 255-byte name.
func TestBuildAtLimits(t *testing.T) {
	most := make([]File, maxFiles)
	for i := range most {
		most[i].Name = fmt.Sprintf("f%05d", i)
	}
	b, err := Build(most, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := string(testtool.MustRun(t, nil, "cabextract", "-t", writeTemp(t, "most.cab", b)))
	if n := strings.Count(out, " OK "); n != maxFiles {
		t.Errorf("cabextract -t: %d files OK, want %d", n, maxFiles)
	}

	long := []File{{Name: strings.Repeat("n", 251) + ".xml", Data: []byte("x")}}
	b, err = Build(long, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkExtracted(t, writeTemp(t, "long.cab", b), long)
}

// TestReadMax checks the decompression bound on a cabinet cabextract
// accepts: exactly its size passes, one byte less is refused.
func TestReadMax(t *testing.T) {
	files := []File{{Name: "big.bin", Data: sample(100<<10, 1)}}
	b, err := Build(files, Options{Compression: MSZIP})
	if err != nil {
		t.Fatal(err)
	}
	checkExtracted(t, writeTemp(t, "big.cab", b), files)
	if _, err := ReadMax(b, 100<<10); err != nil {
		t.Errorf("ReadMax at the cabinet's size: %v", err)
	}
	if _, err := ReadMax(b, 100<<10-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadMax one byte short: err = %v, want ErrTooLarge", err)
	}
}

// TestReadBomb reads a valid cabinet of 65 MiB of zeros, a few hundred KiB
// compressed: cabextract tests it, Read refuses it at the default bound.
func TestReadBomb(t *testing.T) {
	zeros := make([]byte, 1<<20)
	files := make([]File, 65)
	for i := range files {
		files[i] = File{Name: fmt.Sprintf("zero%02d", i), Data: zeros}
	}
	b, err := Build(files, Options{Compression: MSZIP})
	if err != nil {
		t.Fatal(err)
	}
	out := string(testtool.MustRun(t, nil, "cabextract", "-t", writeTemp(t, "bomb.cab", b)))
	if n := strings.Count(out, " OK "); n != len(files) {
		t.Fatalf("cabextract -t: %d files OK, want %d:\n%s", n, len(files), out)
	}
	if _, err := Read(b); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit is 67108864") {
		t.Errorf("Read: err = %v, want ErrTooLarge at 64 MiB", err)
	}
}

// TestReadMSZIPHistory reads an MSZIP cabinet whose second block refers
// back into the first, as makecab and libmspack write them: cabextract
// accepts it, and so must our reader.
func TestReadMSZIPHistory(t *testing.T) {
	// The second block is the first's 1 KiB pieces in reverse order: it
	// deflates to references at many distances into the first block, and
	// the many distance codes keep compress/flate's Huffman codes complete,
	// which libmspack insists on.
	first := sample(maxBlock, 5)
	second := make([]byte, 0, maxBlock)
	for j := maxBlock/1024 - 1; j >= 0; j-- {
		second = append(second, first[j*1024:(j+1)*1024]...)
	}
	files := []File{{Name: "history.bin", Data: append(bytes.Clone(first), second...), Time: goldenTime}}
	b, err := Build(files, Options{Compression: MSZIP})
	if err != nil {
		t.Fatal(err)
	}
	f := firstFolder(t, b)

	// Block 1 again, deflated with block 0 as history.
	var z bytes.Buffer
	zw, err := flate.NewWriterDict(&z, flate.BestCompression, first)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(second)
	zw.Close()
	if _, err := io.ReadAll(flate.NewReader(bytes.NewReader(z.Bytes()))); err == nil {
		t.Fatal("block 1 inflates without history: the test would prove nothing")
	}
	payload := append([]byte("CK"), z.Bytes()...)
	out := bytes.Clone(b[:f.blocks[1].at])
	out = le.AppendUint32(out, blockChecksum(payload, uint16(len(payload)), maxBlock))
	out = le.AppendUint16(out, uint16(len(payload)))
	out = le.AppendUint16(out, maxBlock)
	out = append(out, payload...)
	le.PutUint32(out[8:], uint32(len(out)))

	got := string(testtool.MustRun(t, nil, "cabextract", "-t", writeTemp(t, "history.cab", out)))
	if !hasLine(got, "history.bin", "OK", md5Of(files[0].Data)) {
		t.Fatalf("cabextract -t does not accept the history cabinet:\n%s", got)
	}
	cab, err := Read(out)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	checkFiles(t, "history cabinet", cab.Files, files)
}

// TestReadOverlappingFolders builds by hand a cabinet whose 2000 folders
// all claim the same 2000 empty blocks: walking them all would take 4
// million steps and allocate for each, so Read must refuse at once.
func TestReadOverlappingFolders(t *testing.T) {
	const n = 2000
	b, err := Build([]File{{Name: "a"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	le.PutUint16(b[26:], n) // cFolders
	entries := b[headerSize+folderSize:]
	folders := make([]byte, 0, n*folderSize)
	for range n {
		folders = le.AppendUint32(folders, 0) // coffCabStart, set below
		folders = le.AppendUint16(folders, n)
		folders = le.AppendUint16(folders, 0)
	}
	start := headerSize + len(folders) + len(entries)
	for i := range n {
		le.PutUint32(folders[i*folderSize:], uint32(start))
	}
	out := append(b[:headerSize:headerSize], folders...)
	out = append(out, entries...)
	out = append(out, make([]byte, n*dataHeaderSize)...) // n empty blocks, checksum 0
	le.PutUint32(out[8:], uint32(len(out)))
	le.PutUint32(out[16:], uint32(headerSize+len(folders)))

	_, err = Read(out)
	if err == nil || !strings.Contains(err.Error(), "folders overlap") {
		t.Errorf("Read: err = %v, want the overlap refused", err)
	}
}
