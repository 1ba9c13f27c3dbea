package cab

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Options control how a cabinet is written.
type Options struct {
	Compression Compression
	// Time stamps every file whose own Time is zero. Left zero, such files
	// get 1980-01-01 00:00:00, so output never depends on the clock.
	Time time.Time
	// SourceDateEpoch makes a set SOURCE_DATE_EPOCH environment variable
	// (seconds since 1970, UTC) replace Time, for reproducible builds.
	SourceDateEpoch bool
}

// defaultTime is the time of files that carry none.
func (o Options) defaultTime() (time.Time, error) {
	if !o.SourceDateEpoch {
		return o.Time, nil
	}
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok {
		return o.Time, nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("cab: SOURCE_DATE_EPOCH=%q is not a number of seconds: %w", v, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// Write writes files as one cabinet to w.
func Write(w io.Writer, files []File, opt Options) error {
	b, err := Build(files, opt)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("cab: write: %w", err)
	}
	return nil
}

// Build returns files as one cabinet: a single folder whose data blocks hold
// at most 32768 bytes each, as makecab and gcab write them. The same input
// always gives the same bytes.
func Build(files []File, opt Options) ([]byte, error) {
	if opt.Compression != None && opt.Compression != MSZIP {
		return nil, fmt.Errorf("cab: unsupported compression %v", opt.Compression)
	}
	entries, err := fileEntries(files, opt)
	if err != nil {
		return nil, err
	}
	var total int
	for _, f := range files {
		total += len(f.Data)
	}
	nblocks := (total + maxBlock - 1) / maxBlock
	coffFiles := headerSize + folderSize
	coffData := coffFiles + len(entries)
	// Room for the worst case, 7 bytes of MSZIP overhead a block, so the
	// blocks are written in place.
	b := make([]byte, 0, coffData+total+nblocks*(dataHeaderSize+7))
	b = append(b, "MSCF"...)
	b = le.AppendUint32(b, 0) // reserved1
	b = le.AppendUint32(b, 0) // cbCabinet, set below
	b = le.AppendUint32(b, 0) // reserved2
	b = le.AppendUint32(b, uint32(coffFiles))
	b = le.AppendUint32(b, 0) // reserved3
	b = append(b, 3, 1)       // version 1.3
	b = le.AppendUint16(b, 1) // cFolders
	b = le.AppendUint16(b, uint16(len(files)))
	b = le.AppendUint16(b, 0) // flags
	b = le.AppendUint16(b, 0) // setID
	b = le.AppendUint16(b, 0) // iCabinet

	b = le.AppendUint32(b, uint32(coffData))
	b = le.AppendUint16(b, uint16(nblocks))
	b = le.AppendUint16(b, uint16(opt.Compression))

	b = append(b, entries...)
	b = appendBlocks(b, files, opt.Compression)
	le.PutUint32(b[8:], uint32(len(b)))
	return b, nil
}

// fileEntries checks files against the format's limits and returns their
// CFFILE entries.
func fileEntries(files []File, opt Options) ([]byte, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("cab: no files: a cabinet holds at least one")
	}
	if len(files) > maxFiles {
		return nil, fmt.Errorf("cab: %d files, the format holds at most %d: %w", len(files), maxFiles, ErrTooLarge)
	}
	def, err := opt.defaultTime()
	if err != nil {
		return nil, err
	}
	var entries []byte
	var offset int64
	seen := make(map[string]bool, len(files))
	for i, f := range files {
		if err := checkName(f.Name); err != nil {
			return nil, fmt.Errorf("cab: file %d %q: %w", i, f.Name, err)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("cab: file %d %q: name used twice; extracting would overwrite the first", i, f.Name)
		}
		seen[f.Name] = true
		if offset += int64(len(f.Data)); offset > maxFolderBytes {
			return nil, fmt.Errorf("cab: file %d %q: files total %d bytes or more, a folder of %d blocks holds %d: %w",
				i, f.Name, offset, maxBlocks, maxFolderBytes, ErrTooLarge)
		}
		t := f.Time
		if t.IsZero() {
			t = def
		}
		date, clock, err := dosDateTime(t)
		if err != nil {
			return nil, fmt.Errorf("cab: file %d %q: %w", i, f.Name, err)
		}
		attribs := uint16(attrArchive)
		if !isASCII(f.Name) {
			attribs |= attrUTF8
		}
		entries = le.AppendUint32(entries, uint32(len(f.Data)))
		entries = le.AppendUint32(entries, uint32(offset-int64(len(f.Data))))
		entries = le.AppendUint16(entries, 0) // iFolder
		entries = le.AppendUint16(entries, date)
		entries = le.AppendUint16(entries, clock)
		entries = le.AppendUint16(entries, attribs)
		entries = append(entries, f.Name...)
		entries = append(entries, 0)
	}
	return entries, nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name")
	case len(name) > maxName:
		return fmt.Errorf("name is %d bytes, the limit is %d: %w", len(name), maxName, ErrTooLarge)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("name contains a NUL byte, which ends names in the format")
	case !utf8.ValidString(name):
		return fmt.Errorf("name is not valid UTF-8")
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendBlocks appends the CFDATA blocks of the files' concatenated bytes.
func appendBlocks(b []byte, files []File, c Compression) []byte {
	var payload []byte
	var d *deflater
	if c == MSZIP {
		d = new(deflater)
	}
	eachBlock(files, func(block []byte) {
		data := block
		if d != nil {
			// Every block deflates on its own, as gcab writes them, so a
			// reader that drops history between blocks still decodes ours.
			payload = d.mszip(payload[:0], block)
			data = payload
		}
		// Deflated, a block grows by 7 bytes at most, so cbData fits its u16.
		cbData, cbUncomp := uint16(len(data)), uint16(len(block))
		b = le.AppendUint32(b, blockChecksum(data, cbData, cbUncomp))
		b = le.AppendUint16(b, cbData)
		b = le.AppendUint16(b, cbUncomp)
		b = append(b, data...)
	})
	return b
}

// eachBlock calls fn with each consecutive 32768-byte piece of the files'
// concatenated data, the last one shorter. fn must not keep the slice.
func eachBlock(files []File, fn func([]byte)) {
	buf := make([]byte, 0, maxBlock)
	for _, f := range files {
		d := f.Data
		for len(d) > 0 {
			if len(buf) == 0 && len(d) >= maxBlock {
				fn(d[:maxBlock])
				d = d[maxBlock:]
				continue
			}
			n := min(maxBlock-len(buf), len(d))
			buf, d = append(buf, d[:n]...), d[n:]
			if len(buf) == maxBlock {
				fn(buf)
				buf = buf[:0]
			}
		}
	}
	if len(buf) > 0 {
		fn(buf)
	}
}
