package cab

import "math/bits"

// MSZIP blocks are deflated here rather than with compress/flate: on long
// runs (zeros, padding) compress/flate writes dynamic blocks whose distance
// code has a single symbol, an incomplete Huffman code that RFC 1951
// decoders such as zlib tolerate but libmspack (cabextract) rejects as a
// decompression error. This encoder emits only fixed-code blocks, complete
// by definition, or stored blocks when those are shorter; its output is
// therefore also the same on every Go version.

// Length and distance bases and extra bits, RFC 1951 section 3.2.5.
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

const (
	minMatch  = 3
	maxMatch  = 258
	hashBits  = 15
	maxChain  = 128 // candidates tried per position: ratio against speed
	niceMatch = 128 // a match this long ends the search
	maxInsert = 32  // positions inside longer matches are not indexed
)

// deflater holds the match finder's tables between blocks so a cabinet
// allocates them once; each block is compressed without history.
type deflater struct {
	head [1 << hashBits]int32
	prev [maxBlock]int32
	bw   bitWriter
}

// mszip appends "CK" and the deflate stream of one block (at most 32768
// bytes) to dst.
func (d *deflater) mszip(dst, src []byte) []byte {
	dst = append(dst, 'C', 'K')
	d.bw = bitWriter{out: dst}
	d.bw.write(1, 1) // BFINAL
	d.bw.write(1, 2) // BTYPE 01: fixed codes
	d.fixed(src)
	d.bw.literal(256) // end of block
	fixed := d.bw.flush()
	if len(fixed)-len(dst) <= len(src)+5 {
		return fixed
	}
	// Incompressible: a stored block costs 5 bytes over the data.
	stored := append(dst, 1) // BFINAL, BTYPE 00, padding to the byte
	stored = le.AppendUint16(stored, uint16(len(src)))
	stored = le.AppendUint16(stored, ^uint16(len(src)))
	return append(stored, src...)
}

// fixed writes src as literals and matches found by hash chains, greedily.
func (d *deflater) fixed(src []byte) {
	for i := range d.head {
		d.head[i] = -1
	}
	hash := func(i int) int {
		return int((uint32(src[i])<<16 | uint32(src[i+1])<<8 | uint32(src[i+2])) * 2654435761 >> (32 - hashBits))
	}
	insert := func(i int) {
		if i+minMatch <= len(src) {
			h := hash(i)
			d.prev[i], d.head[h] = d.head[h], int32(i)
		}
	}
	for i := 0; i < len(src); {
		length, dist := 0, 0
		if i+minMatch <= len(src) {
			limit := min(maxMatch, len(src)-i)
			for cand, n := d.head[hash(i)], 0; cand >= 0 && n < maxChain; cand, n = d.prev[cand], n+1 {
				c := int(cand)
				if length > 0 && src[c+length] != src[i+length] {
					continue // cannot beat the match in hand
				}
				l := matchLen(src[c:], src[i:i+limit])
				if l > length {
					length, dist = l, i-int(cand)
					if l >= niceMatch || l == limit {
						break
					}
				}
			}
		}
		if length < minMatch {
			d.bw.literal(int(src[i]))
			insert(i)
			i++
			continue
		}
		d.bw.match(length, dist)
		if length > maxInsert {
			// As zlib does: long matches are mostly runs, where indexing
			// every position costs the most time and gains nothing.
			i += length
			continue
		}
		for end := i + length; i < end; i++ {
			insert(i)
		}
	}
}

// matchLen returns how many leading bytes of b a repeats; a is at least as
// long as b.
func matchLen(a, b []byte) int {
	n := 0
	for ; n+8 <= len(b); n += 8 {
		if x := le.Uint64(a[n:]) ^ le.Uint64(b[n:]); x != 0 {
			return n + bits.TrailingZeros64(x)/8
		}
	}
	for n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// bitWriter packs deflate's LSB-first bit stream.
type bitWriter struct {
	out []byte
	acc uint64
	n   uint
}

func (w *bitWriter) write(v uint64, nbits uint) {
	w.acc |= v << w.n
	w.n += nbits
	for w.n >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

// writeCode writes a Huffman code, which deflate sends MSB first.
func (w *bitWriter) writeCode(code uint16, nbits uint) {
	w.write(uint64(bits.Reverse16(code)>>(16-nbits)), nbits)
}

// literal writes a literal/length symbol with the fixed code.
func (w *bitWriter) literal(sym int) {
	switch {
	case sym < 144:
		w.writeCode(uint16(0x30+sym), 8)
	case sym < 256:
		w.writeCode(uint16(0x190+sym-144), 9)
	case sym < 280:
		w.writeCode(uint16(sym-256), 7)
	default:
		w.writeCode(uint16(0xC0+sym-280), 8)
	}
}

func (w *bitWriter) match(length, dist int) {
	l := len(lengthBase) - 1
	for int(lengthBase[l]) > length {
		l--
	}
	w.literal(257 + l)
	w.write(uint64(length-int(lengthBase[l])), uint(lengthExtra[l]))
	c := len(distBase) - 1
	for int(distBase[c]) > dist {
		c--
	}
	w.writeCode(uint16(c), 5)
	w.write(uint64(dist-int(distBase[c])), uint(distExtra[c]))
}

func (w *bitWriter) flush() []byte {
	if w.n > 0 {
		w.out = append(w.out, byte(w.acc))
	}
	w.acc, w.n = 0, 0
	return w.out
}
