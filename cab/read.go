package cab

import (
	"bytes"
	"compress/flate"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// DefaultMaxSize bounds the bytes Read decompresses, against zip bombs.
const DefaultMaxSize = 64 << 20

// Cabinet is a cabinet's content.
type Cabinet struct {
	Files []File
	// Compression is the first folder's method; Read accepts only None and
	// MSZIP folders.
	Compression Compression
	// Signature is the Authenticode PKCS#7 SignedData (DER, without the
	// padding) of a signed cabinet, nil for an unsigned one. Read checks
	// only its place and framing; Verify checks what it says.
	Signature []byte
}

// Read reads a cabinet, decompressing at most DefaultMaxSize bytes.
func Read(b []byte) (*Cabinet, error) {
	return ReadMax(b, DefaultMaxSize)
}

// header is what a CFHEADER says, with offsets checked against the input.
type header struct {
	size       int // cbCabinet
	coffFiles  int
	nFolders   int
	nFiles     int
	flags      uint16
	foldersAt  int // first CFFOLDER: after the header and its reserve
	folderResv int
	dataResv   int
	sigPos     int // Authenticode signature region; zero when unsigned
	sigLen     int
}

// Authenticode's header reserve: cbCFHeader 20, starting with this marker,
// then the signature's offset and length.
const (
	sigReserveSize   = 20
	sigReserveMarker = 0x00100000
)

func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerSize || string(b[:4]) != "MSCF" {
		return h, errors.New("cab: not a cabinet: no MSCF header")
	}
	size := le.Uint32(b[8:])
	if size < headerSize || uint64(size) > uint64(len(b)) {
		return h, fmt.Errorf("cab: header says %d bytes, input has %d", size, len(b))
	}
	h.size = int(size)
	b = b[:h.size]
	if b[25] != 1 {
		return h, fmt.Errorf("cab: format version %d.%d, only 1.x exists", b[25], b[24])
	}
	h.coffFiles = int(le.Uint32(b[16:]))
	h.nFolders = int(le.Uint16(b[26:]))
	h.nFiles = int(le.Uint16(b[28:]))
	h.flags = le.Uint16(b[30:])
	if h.flags&(flagPrev|flagNext) != 0 {
		return h, errors.New("cab: cabinet is part of a spanned set, which is unsupported")
	}
	h.foldersAt = headerSize
	if h.flags&flagReserve != 0 {
		if len(b) < headerSize+reserveFields {
			return h, errors.New("cab: header reserve fields cut short")
		}
		cbHeader := int(le.Uint16(b[36:]))
		h.folderResv, h.dataResv = int(b[38]), int(b[39])
		h.foldersAt = headerSize + reserveFields + cbHeader
		if h.foldersAt > len(b) {
			return h, fmt.Errorf("cab: header reserve of %d bytes runs past the cabinet", cbHeader)
		}
		if cbHeader == sigReserveSize && le.Uint32(b[40:]) == sigReserveMarker {
			h.sigPos, h.sigLen = int(le.Uint32(b[44:])), int(le.Uint32(b[48:]))
		}
	}
	if h.nFolders == 0 || h.nFiles == 0 {
		return h, fmt.Errorf("cab: %d folders and %d files: an empty cabinet", h.nFolders, h.nFiles)
	}
	if h.coffFiles < h.foldersAt+h.nFolders*(folderSize+h.folderResv) || h.coffFiles > h.size {
		return h, fmt.Errorf("cab: file entries at %d, outside %d..%d", h.coffFiles,
			h.foldersAt+h.nFolders*(folderSize+h.folderResv), h.size)
	}
	return h, nil
}

// signature returns the signature's DER bytes from its region, which must
// follow the cabinet and end the input, as osslsigncode requires.
func (h header) signature(b []byte) ([]byte, error) {
	if h.sigPos == 0 && h.sigLen == 0 {
		return nil, nil
	}
	if h.sigPos < h.size || h.sigLen == 0 || uint64(h.sigPos)+uint64(h.sigLen) != uint64(len(b)) {
		return nil, fmt.Errorf("cab: signature at %d, %d bytes: want it between the cabinet's end (%d) and the input's (%d)",
			h.sigPos, h.sigLen, h.size, len(b))
	}
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(b[h.sigPos:], &raw)
	if err != nil {
		return nil, fmt.Errorf("cab: signature is not DER: %w", err)
	}
	if len(rest) >= 8 || !allZero(rest) {
		return nil, fmt.Errorf("cab: signature followed by %d bytes that are not its zero padding", len(rest))
	}
	return raw.FullBytes, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// folder is one CFFOLDER with its CFDATA blocks located.
type folder struct {
	method Compression
	blocks []block
	size   int // uncompressed bytes, the sum of the blocks' cbUncomp
}

type block struct {
	at       int // offset of the CFDATA header
	csum     uint32
	data     []byte
	cbUncomp int
}

// ReadMax is Read with a bound other than DefaultMaxSize on the bytes it
// decompresses. It checks every offset, size and checksum (a checksum of 0
// means none) and refuses cabinets that would decompress to more than
// maxSize bytes before decompressing any.
func ReadMax(b []byte, maxSize int64) (*Cabinet, error) {
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	sig, err := h.signature(b)
	if err != nil {
		return nil, err
	}
	cab := b[:h.size]
	folders := make([]folder, h.nFolders)
	var total int64
	// Folders could all claim the same blocks; a cabinet cannot hold more
	// block headers than it has room for, which bounds the walk below.
	blocksLeft := len(cab) / dataHeaderSize
	for i := range folders {
		f, err := h.folder(cab, i, &blocksLeft)
		if err != nil {
			return nil, err
		}
		if total += int64(f.size); total > maxSize {
			return nil, fmt.Errorf("cab: folder %d: cabinet decompresses to %d bytes or more, the limit is %d: %w",
				i, total, maxSize, ErrTooLarge)
		}
		folders[i] = f
	}
	data := make([][]byte, len(folders))
	for i, f := range folders {
		if data[i], err = f.decompress(i); err != nil {
			return nil, err
		}
	}
	files, err := h.files(cab, data)
	if err != nil {
		return nil, err
	}
	return &Cabinet{Files: files, Compression: folders[0].method, Signature: sig}, nil
}

func (h header) folder(cab []byte, i int, blocksLeft *int) (folder, error) {
	var f folder
	at := h.foldersAt + i*(folderSize+h.folderResv)
	e := cab[at:]
	method := le.Uint16(e[6:]) & typeMask
	switch method {
	case 0:
		f.method = None
	case 1:
		f.method = MSZIP
	default:
		return f, fmt.Errorf("cab: folder %d: compression type %d (Quantum or LZX) is unsupported", i, method)
	}
	off, n := int64(le.Uint32(e)), int(le.Uint16(e[4:]))
	if *blocksLeft -= n; *blocksLeft < 0 {
		return f, fmt.Errorf("cab: folder %d: %d blocks, more than the cabinet has room for (folders overlap)", i, n)
	}
	f.blocks = make([]block, 0, n)
	for j := range n {
		hdr := off + dataHeaderSize + int64(h.dataResv)
		if hdr > int64(len(cab)) {
			return f, fmt.Errorf("cab: folder %d, block %d at %d: header runs past the cabinet's %d bytes", i, j, off, len(cab))
		}
		cbData, cbUncomp := int64(le.Uint16(cab[off+4:])), int(le.Uint16(cab[off+6:]))
		if hdr+cbData > int64(len(cab)) {
			return f, fmt.Errorf("cab: folder %d, block %d at %d: %d data bytes run past the cabinet's %d bytes", i, j, off, cbData, len(cab))
		}
		if cbUncomp > maxBlock {
			return f, fmt.Errorf("cab: folder %d, block %d at %d: %d uncompressed bytes, the limit is %d", i, j, off, cbUncomp, maxBlock)
		}
		if f.method == None && int(cbData) != cbUncomp {
			return f, fmt.Errorf("cab: folder %d, block %d at %d: stored block of %d bytes says %d uncompressed", i, j, off, cbData, cbUncomp)
		}
		f.blocks = append(f.blocks, block{at: int(off), csum: le.Uint32(cab[off:]), data: cab[hdr : hdr+cbData], cbUncomp: cbUncomp})
		f.size += cbUncomp
		off = hdr + cbData
	}
	return f, nil
}

// decompress returns the folder's bytes after checking every block's
// checksum.
func (f folder) decompress(i int) ([]byte, error) {
	out := make([]byte, 0, f.size)
	var zr io.ReadCloser
	var one [1]byte
	for j, bl := range f.blocks {
		if bl.csum != 0 {
			if sum := blockChecksum(bl.data, uint16(len(bl.data)), uint16(bl.cbUncomp)); sum != bl.csum {
				return nil, fmt.Errorf("cab: folder %d, block %d at %d: %w (stored %#08x, computed %#08x)", i, j, bl.at, ErrChecksum, bl.csum, sum)
			}
		}
		if f.method == None {
			out = append(out, bl.data...)
			continue
		}
		if len(bl.data) < 2 || bl.data[0] != 'C' || bl.data[1] != 'K' {
			return nil, fmt.Errorf("cab: folder %d, block %d at %d: MSZIP block without its CK signature", i, j, bl.at)
		}
		// makecab carries the last 32 KiB of output into the next block
		// as deflate history, and libmspack decodes it so; gcab and we
		// start every block afresh, which the same dictionary also reads.
		src, history := bytes.NewReader(bl.data[2:]), out[max(0, len(out)-maxBlock):]
		if zr == nil {
			zr = flate.NewReaderDict(src, history)
		} else if err := zr.(flate.Resetter).Reset(src, history); err != nil {
			return nil, fmt.Errorf("cab: folder %d, block %d at %d: %w", i, j, bl.at, err)
		}
		n := len(out)
		out = out[:n+bl.cbUncomp]
		if _, err := io.ReadFull(zr, out[n:]); err != nil {
			return nil, fmt.Errorf("cab: folder %d, block %d at %d: inflate %d bytes: %w", i, j, bl.at, bl.cbUncomp, err)
		}
		if k, err := zr.Read(one[:]); k != 0 || err != io.EOF {
			return nil, fmt.Errorf("cab: folder %d, block %d at %d: deflate data does not end after %d bytes (%v)", i, j, bl.at, bl.cbUncomp, err)
		}
	}
	return out, nil
}

func (h header) files(cab []byte, data [][]byte) ([]File, error) {
	files := make([]File, 0, h.nFiles)
	at := h.coffFiles
	for i := range h.nFiles {
		if at+fileEntrySize > len(cab) {
			return nil, fmt.Errorf("cab: file entry %d at %d runs past the cabinet's %d bytes", i, at, len(cab))
		}
		e := cab[at:]
		size, off, fi := uint64(le.Uint32(e)), uint64(le.Uint32(e[4:])), int(le.Uint16(e[8:]))
		date, clock, attribs := le.Uint16(e[10:]), le.Uint16(e[12:]), le.Uint16(e[14:])
		nameBytes := e[fileEntrySize:min(len(e), fileEntrySize+maxName+1)]
		end := bytes.IndexByte(nameBytes, 0)
		if end < 0 {
			return nil, fmt.Errorf("cab: file entry %d at %d: name without a NUL within %d bytes", i, at, maxName+1)
		}
		name, err := decodeName(nameBytes[:end], attribs&attrUTF8 != 0)
		if err != nil {
			return nil, fmt.Errorf("cab: file entry %d at %d: %w", i, at, err)
		}
		if fi >= len(data) {
			return nil, fmt.Errorf("cab: file %q: folder %d of %d (continued across cabinets?)", name, fi, len(data))
		}
		if off+size > uint64(len(data[fi])) {
			return nil, fmt.Errorf("cab: file %q: bytes %d..%d outside folder %d's %d bytes", name, off, off+size, fi, len(data[fi]))
		}
		files = append(files, File{Name: name, Data: data[fi][off : off+size : off+size], Time: fromDOS(date, clock)})
		at += fileEntrySize + end + 1
	}
	return files, nil
}

// decodeName reads names without the UTF-8 flag as ISO-8859-1, as
// libmspack does.
func decodeName(b []byte, isUTF8 bool) (string, error) {
	if len(b) == 0 {
		return "", errors.New("empty name")
	}
	if isUTF8 {
		if !utf8.Valid(b) {
			return "", fmt.Errorf("name %q flagged UTF-8 is not", b)
		}
		return string(b), nil
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r), nil
}
