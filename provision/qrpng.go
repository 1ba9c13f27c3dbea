package provision

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
)

// PNG renders the code with scale pixels per module (at least 1), crisp at
// any size because modules are whole pixels: a 1-bit image, black on
// white. A bundle makes one code per user, so this is written out here
// rather than through image/png, which asks an image for every pixel's
// palette index (most of a code's PNG time), or go-qrcode's PNG, which
// also compresses at the slowest level with a new zlib writer each time.
// The bytes are what image/png writes for the same image at BestSpeed.
func (q *QR) PNG(scale int) ([]byte, error) {
	scale = max(scale, 1)
	n := len(q.modules) * scale
	stride := 1 + (n+7)/8 // a filter-type byte (0, none) and the row's bits
	raw := make([]byte, stride*n)
	for y, modules := range q.modules {
		row := raw[y*scale*stride:][:stride]
		for x, dark := range modules {
			if dark {
				for px := x * scale; px < (x+1)*scale; px++ {
					row[1+px/8] |= 0x80 >> (px % 8)
				}
			}
		}
		for i := 1; i < scale; i++ {
			copy(raw[(y*scale+i)*stride:], row)
		}
	}
	var idat bytes.Buffer
	zw := zlibWriters.get(&idat)
	_, err := zw.Write(raw)
	if err == nil {
		err = zw.Close()
	}
	zlibWriters.put(zw)
	if err != nil {
		return nil, fmt.Errorf("QR PNG: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(n)), uint32(n))
	// bit depth 1, colour type 3 (palette), deflate, no filter, no interlace
	pngChunk(&b, "IHDR", append(ihdr, 1, 3, 0, 0, 0))
	pngChunk(&b, "PLTE", []byte{0xff, 0xff, 0xff, 0, 0, 0}) // index 0 white, 1 black
	pngChunk(&b, "IDAT", idat.Bytes())
	pngChunk(&b, "IEND", nil)
	return b.Bytes(), nil
}

// pngChunk writes length, type, data and the CRC of type and data.
func pngChunk(b *bytes.Buffer, typ string, data []byte) {
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	b.Write(crc.Sum(nil))
}

// zlibWriters keeps BestSpeed zlib writers (a few hundred KiB each to
// allocate and clear) for the next code. A writer holds scratch space only:
// Reset starts it afresh, so nothing of one image reaches another.
var zlibWriters zlibPool

type zlibPool struct{ p sync.Pool }

func (p *zlibPool) get(w *bytes.Buffer) *zlib.Writer {
	if zw, ok := p.p.Get().(*zlib.Writer); ok {
		zw.Reset(w)
		return zw
	}
	// BestSpeed is a valid level, so NewWriterLevel cannot fail.
	zw, _ := zlib.NewWriterLevel(w, zlib.BestSpeed)
	return zw
}

func (p *zlibPool) put(zw *zlib.Writer) { p.p.Put(zw) }
