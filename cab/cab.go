package cab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Compression is the method a cabinet's data blocks are stored with.
type Compression int

const (
	// None stores data as is: WM5 and older Pocket PCs accept nothing else
	// for a provisioning _setup.xml.
	None Compression = iota
	// MSZIP compresses each block with deflate behind a "CK" signature.
	MSZIP
)

func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case MSZIP:
		return "mszip"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// File is one file of a cabinet.
type File struct {
	Name string
	Data []byte
	// Time is stored as a DOS date and time, the wall clock in Time's own
	// location, to two seconds. Zero means Options.Time when writing.
	Time time.Time
}

// ErrChecksum is wrapped by reader errors for a data block whose checksum
// does not match its bytes.
var ErrChecksum = errors.New("checksum mismatch")

// ErrTooLarge is wrapped by errors for input beyond a format or reader limit.
var ErrTooLarge = errors.New("too large")

// Sizes and limits of the format (MS-CAB, libmspack).
const (
	headerSize     = 36
	reserveFields  = 4 // cbCFHeader u16, cbCFFolder u8, cbCFData u8
	folderSize     = 8
	fileEntrySize  = 16
	dataHeaderSize = 8
	maxBlock       = 32768
	maxBlocks      = 0xFFFF // cCFData is a u16
	maxFolderBytes = maxBlocks * maxBlock
	maxFiles       = 0xFFFF // cFiles is a u16
	maxName        = 255    // libmspack reads names into 256 bytes with the NUL

	flagPrev    = 0x0001
	flagNext    = 0x0002
	flagReserve = 0x0004

	attrArchive = 0x20
	attrUTF8    = 0x80

	typeMask = 0x000F // the high bits of typeCompress carry LZX/Quantum parameters
)

var le = binary.LittleEndian

// checksum is the CFDATA checksum of libmspack and gcab: the XOR of the
// little-endian words, then the 1-3 leftover bytes packed
// first-byte-most-significant.
func checksum(b []byte, seed uint32) uint32 {
	n := len(b) &^ 3
	for i := 0; i < n; i += 4 {
		seed ^= le.Uint32(b[i:])
	}
	var tail uint32
	for _, c := range b[n:] {
		tail = tail<<8 | uint32(c)
	}
	return seed ^ tail
}

// blockChecksum covers the block's bytes, then its cbData and cbUncomp.
func blockChecksum(data []byte, cbData, cbUncomp uint16) uint32 {
	var sizes [4]byte
	le.PutUint16(sizes[0:], cbData)
	le.PutUint16(sizes[2:], cbUncomp)
	return checksum(sizes[:], checksum(data, 0))
}

// dosEpoch is the earliest time a DOS date can hold: 1980-01-01 00:00:00.
const dosEpoch = 1<<5 | 1

// dosDateTime encodes t's wall clock. Times before 1980, the zero Time and
// SOURCE_DATE_EPOCH=0 among them, become 1980-01-01 00:00:00 as zip tools do.
func dosDateTime(t time.Time) (date, clock uint16, err error) {
	y, mo, d := t.Date()
	if y < 1980 {
		return dosEpoch, 0, nil
	}
	if y > 1980+127 {
		return 0, 0, fmt.Errorf("time %s is after 2107, the last year a DOS date holds", t.Format(time.RFC3339))
	}
	h, mi, s := t.Clock()
	return uint16((y-1980)<<9 | int(mo)<<5 | d), uint16(h<<11 | mi<<5 | s/2), nil
}

// fromDOS decodes a DOS date and time as UTC; the format has no zone.
func fromDOS(date, clock uint16) time.Time {
	return time.Date(1980+int(date>>9), time.Month(date>>5&0xF), int(date&0x1F),
		int(clock>>11), int(clock>>5&0x3F), int(clock&0x1F)*2, 0, time.UTC)
}
