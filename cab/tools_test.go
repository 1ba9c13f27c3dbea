package cab

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

// sample returns n deterministic bytes, alternating 4 KiB of XML-like text
// with 4 KiB of noise, so MSZIP meets both compressible and stored deflate
// blocks.
func sample(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		if i%2 == 0 {
			for start := b.Len(); b.Len()-start < 4096; {
				fmt.Fprintf(&b, "<parm name=\"P%d\" value=\"%d\"/>\n", rng.IntN(64), rng.IntN(1000))
			}
		} else {
			noise := make([]byte, 4096)
			for j := range noise {
				noise[j] = byte(rng.Uint32())
			}
			b.Write(noise)
		}
	}
	return b.Bytes()[:n]
}

type fileSet struct {
	name   string
	files  []File
	blocks int // CFDATA blocks per test-vectors.md; 0 = not stated there
}

func fileSets() []fileSet {
	return []fileSet{
		{name: "golden", files: goldenFiles(), blocks: 1},
		{name: "empty-file", files: []File{{Name: "empty.txt"}}},
		{name: "100KiB", files: []File{{Name: "big.bin", Data: sample(100<<10, 1)}}},
		{name: "156222", files: []File{{Name: "five.bin", Data: sample(156222, 2)}}, blocks: 5},
		{name: "several", files: []File{
			{Name: "a.xml", Data: sample(40000, 3)},
			{Name: "b.bin", Data: sample(30000, 4)},
			{Name: "c.txt"},
			{Name: "d.txt", Data: []byte("d\n")},
		}},
		{name: "utf8-name", files: []File{{Name: "Zertifikat-Größe-証明書.xml", Data: []byte("<x/>\n")}}},
	}
}

// md5Of formats the digest cabextract -t prints.
func md5Of(b []byte) string { return fmt.Sprintf("%x", md5.Sum(b)) }

// firstFolder locates the data blocks of a cabinet's first folder.
func firstFolder(t *testing.T, b []byte) folder {
	t.Helper()
	h, err := parseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	left := h.size / dataHeaderSize
	f, err := h.folder(b[:h.size], 0, &left)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// blockSizes returns the cbUncomp of each data block of a one-folder cabinet.
func blockSizes(t *testing.T, b []byte) []int {
	t.Helper()
	var sizes []int
	for _, bl := range firstFolder(t, b).blocks {
		sizes = append(sizes, bl.cbUncomp)
	}
	return sizes
}

// gcabCreate makes a cabinet of files with `gcab -c`, the files' mtimes set
// to their Time.
func gcabCreate(t *testing.T, files []File, c Compression) []byte {
	t.Helper()
	t.Setenv("TZ", "UTC") // gcab stamps local mtimes
	dir := t.TempDir()
	out := filepath.Join(dir, "gcab.cab")
	args := []string{"-c", "-n"}
	if c == MSZIP {
		args = append(args, "-z")
	}
	args = append(args, out)
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := os.WriteFile(p, f.Data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, f.Time, f.Time); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	testtool.MustRun(t, nil, "gcab", args...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hasLine reports whether one line of out holds every field, space-separated.
func hasLine(out string, fields ...string) bool {
	for line := range strings.Lines(out) {
		if slices.Equal(strings.Fields(line), fields) {
			return true
		}
	}
	return false
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkExtracted runs cabextract -t, gcab -l and gcab -x over the cabinet
// at path and compares what they report with files.
func checkExtracted(t *testing.T, path string, files []File) {
	t.Helper()
	out := string(testtool.MustRun(t, nil, "cabextract", "-t", path))
	for _, f := range files {
		if !hasLine(out, f.Name, "OK", md5Of(f.Data)) {
			t.Errorf("cabextract -t: no OK line for %s with md5 %s:\n%s", f.Name, md5Of(f.Data), out)
		}
	}
	list := string(testtool.MustRun(t, nil, "gcab", "-l", path))
	for _, f := range files {
		if !strings.Contains(list, fmt.Sprintf("%s %d ", f.Name, len(f.Data))) {
			t.Errorf("gcab -l does not list %s of %d bytes:\n%s", f.Name, len(f.Data), list)
		}
	}
	dir := t.TempDir()
	testtool.MustRun(t, nil, "gcab", "-x", "-C", dir, path)
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Errorf("gcab -x: %v", err)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("gcab -x: %s differs from the input (%d bytes, want %d)", f.Name, len(got), len(f.Data))
		}
	}
}

// checkFiles compares what our reader returned with the input files.
func checkFiles(t *testing.T, what string, got, want []File) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d files, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || !bytes.Equal(g.Data, w.Data) || !g.Time.Equal(w.Time) {
			t.Errorf("%s: file %d = %q (%d bytes, %v), want %q (%d bytes, %v)",
				what, i, g.Name, len(g.Data), g.Time, w.Name, len(w.Data), w.Time)
		}
	}
}

// TestAgainstTools writes every file set stored and MSZIP and checks the
// result with cabextract and gcab; it also has gcab write the same set and
// checks that stored output matches gcab's byte for byte, that MSZIP output
// has gcab's block layout, and that our reader reads gcab's cabinet.
func TestAgainstTools(t *testing.T) {
	for _, set := range fileSets() {
		for _, c := range []Compression{None, MSZIP} {
			t.Run(set.name+"/"+c.String(), func(t *testing.T) {
				files := set.files
				for i := range files {
					files[i].Time = goldenTime
				}
				ours, err := Build(files, Options{Compression: c})
				if err != nil {
					t.Fatal(err)
				}
				checkExtracted(t, writeTemp(t, "ours.cab", ours), files)

				theirs := gcabCreate(t, files, c)
				if c == None && !bytes.Equal(ours, theirs) {
					t.Errorf("stored cabinet differs from gcab's\nours   %x\ngcab's %x", ours[:min(len(ours), 200)], theirs[:min(len(theirs), 200)])
				}
				ourBlocks, theirBlocks := blockSizes(t, ours), blockSizes(t, theirs)
				if fmt.Sprint(ourBlocks) != fmt.Sprint(theirBlocks) {
					t.Errorf("blocks of %v bytes, gcab writes %v", ourBlocks, theirBlocks)
				}
				if set.blocks != 0 && len(theirBlocks) != set.blocks {
					t.Errorf("gcab wrote %d blocks, test-vectors.md says %d", len(theirBlocks), set.blocks)
				}
				cab, err := Read(theirs)
				if err != nil {
					t.Fatalf("reading gcab's cabinet: %v", err)
				}
				checkFiles(t, "gcab's cabinet", cab.Files, files)
				if cab.Compression != c || cab.Signature != nil {
					t.Errorf("gcab's cabinet read as %v, signature %x", cab.Compression, cab.Signature)
				}
			})
		}
	}
}

// TestCorruptBlock flips one data byte of the fourth of five blocks: our
// reader must name the block, cabextract must fail with a checksum error.
func TestCorruptBlock(t *testing.T) {
	files := []File{{Name: "five.bin", Data: sample(156222, 2)}}
	for _, c := range []Compression{None, MSZIP} {
		t.Run(c.String(), func(t *testing.T) {
			b, err := Build(files, Options{Compression: c})
			if err != nil {
				t.Fatal(err)
			}
			bl := firstFolder(t, b).blocks[3]
			b[bl.at+dataHeaderSize+len(bl.data)/2] ^= 0x40

			_, err = Read(b)
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "block 3 ") {
				t.Errorf("Read: err = %v, want a checksum error naming block 3", err)
			}
			out, _, err := testtool.Run(t, nil, "cabextract", "-t", writeTemp(t, "bad.cab", b))
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "checksum error") {
				t.Errorf("cabextract -t: %v, want exit 1 and a checksum error:\n%s", err, out)
			}
		})
	}
}

// TestDatesWithCabextract checks our DOS date encoding at its edges against
// how cabextract -l prints it.
func TestDatesWithCabextract(t *testing.T) {
	files := []File{
		{Name: "last", Time: time.Date(2107, 12, 31, 23, 59, 59, 0, time.UTC)},
		{Name: "odd", Time: time.Date(2026, 11, 25, 6, 7, 9, 0, time.UTC)},
		{Name: "early", Time: time.Unix(0, 0).UTC()},
		{Name: "zero"},
	}
	b, err := Build(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := string(testtool.MustRun(t, nil, "cabextract", "-l", writeTemp(t, "dates.cab", b)))
	for name, want := range map[string]string{
		"last": "31.12.2107 23:59:58", "odd": "25.11.2026 06:07:08",
		"early": "01.01.1980 00:00:00", "zero": "01.01.1980 00:00:00",
	} {
		if !strings.Contains(out, want+" | "+name+"\n") {
			t.Errorf("cabextract -l: no %q for %s:\n%s", want, name, out)
		}
	}
}

// TestMSZIPRuns covers the inputs on which compress/flate's output fails
// in cabextract (a lone distance code is an incomplete Huffman code to
// libmspack): runs of one byte, short periods, and at the other end noise
// that must fall back to stored deflate blocks. cabextract and gcab must
// extract them all, and the runs must really compress.
func TestMSZIPRuns(t *testing.T) {
	noise := make([]byte, 70000)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	for _, f := range []File{
		{Name: "one-zero", Data: []byte{0}},
		{Name: "zeros-32767", Data: make([]byte, 32767)},
		{Name: "zeros-100000", Data: make([]byte, 100000)},
		{Name: "a-40000", Data: bytes.Repeat([]byte("a"), 40000)},
		{Name: "ab-40000", Data: bytes.Repeat([]byte("ab"), 20000)},
		{Name: "noise", Data: noise},
	} {
		t.Run(f.Name, func(t *testing.T) {
			b, err := Build([]File{f}, Options{Compression: MSZIP})
			if err != nil {
				t.Fatal(err)
			}
			checkExtracted(t, writeTemp(t, f.Name+".cab", b), []File{f})
			if len(f.Data) > 1000 && f.Name != "noise" && len(b) > len(f.Data)/50 {
				t.Errorf("%d bytes of runs take %d in the cabinet", len(f.Data), len(b))
			}
		})
	}
}
