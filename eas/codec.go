package eas

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// WBXML global tokens used by ActiveSync ([MS-ASWBXML] 2.1.1).
const (
	tokSwitchPage = 0x00
	tokEnd        = 0x01
	tokStrI       = 0x03
	tokOpaque     = 0xC3

	contentBit = 0x40
	attrBit    = 0x80
)

// header is WBXML 1.3, unknown public id, UTF-8, empty string table.
const header = "\x03\x01\x6a\x00"

// ContentType is the media type of WBXML request and response bodies.
const ContentType = "application/vnd.ms-sync.wbxml"

// Limits bound what Decode accepts from the network. A zero field takes the
// default from DefaultLimits. Decode sees the body only once it is read, so a
// server reads it through io.LimitReader(body, MaxSize+1).
type Limits struct {
	MaxSize     int // whole document, bytes
	MaxDepth    int // element nesting
	MaxElements int
	MaxString   int // one STR_I, bytes
	MaxOpaque   int // one OPAQUE, bytes
}

// DefaultLimits fit the commands a push endpoint handles: a Sync window of
// messages with truncated bodies, far below anything that strains memory.
func DefaultLimits() Limits {
	return Limits{
		MaxSize:     16 << 20,
		MaxDepth:    32,
		MaxElements: 1 << 16,
		MaxString:   4 << 20,
		MaxOpaque:   8 << 20,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxSize <= 0 {
		l.MaxSize = d.MaxSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = d.MaxElements
	}
	if l.MaxString <= 0 {
		l.MaxString = d.MaxString
	}
	if l.MaxOpaque <= 0 {
		l.MaxOpaque = d.MaxOpaque
	}
	return l
}

// ErrEmpty is returned by Decode for a zero-length body, which several
// commands (Ping, Sync) give a meaning of their own.
var ErrEmpty = errors.New("wbxml: empty document")

// DecodeError reports malformed or over-limit input at a byte offset.
type DecodeError struct {
	Offset int
	Msg    string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("wbxml: offset %d: %s", e.Offset, e.Msg)
}

// Encode serialises root as an ActiveSync WBXML document.
func Encode(root *Element) ([]byte, error) {
	return AppendEncode(make([]byte, 0, 256), root)
}

// AppendEncode appends the document for root to dst.
func AppendEncode(dst []byte, root *Element) ([]byte, error) {
	if root == nil {
		return dst, errors.New("wbxml: encode: nil root")
	}
	enc := encoder{buf: append(dst, header...), maxDepth: DefaultLimits().MaxDepth}
	if err := enc.element(root, 1); err != nil {
		return dst, fmt.Errorf("wbxml: encode: %w", err)
	}
	return enc.buf, nil
}

type encoder struct {
	buf      []byte
	page     byte
	maxDepth int
}

func (enc *encoder) element(e *Element, depth int) error {
	if depth > enc.maxDepth {
		return fmt.Errorf("%s: nested deeper than %d", e.Tag, enc.maxDepth)
	}
	page, tok, err := lookupTag(e.Tag)
	if err != nil {
		return err
	}
	if page != enc.page {
		enc.buf = append(enc.buf, tokSwitchPage, page)
		enc.page = page
	}
	if e.Text == "" && e.Opaque == nil && len(e.Children) == 0 {
		enc.buf = append(enc.buf, tok)
		return nil
	}
	enc.buf = append(enc.buf, tok|contentBit)
	switch {
	case e.Opaque != nil:
		if err := enc.opaque(e.Tag, e.Opaque); err != nil {
			return err
		}
	case strings.IndexByte(e.Text, 0) >= 0:
		// STR_I ends at NUL, so such text (possible when it arrived as
		// OPAQUE) goes back out as OPAQUE.
		if err := enc.opaque(e.Tag, []byte(e.Text)); err != nil {
			return err
		}
	case e.Text != "":
		enc.buf = append(enc.buf, tokStrI)
		enc.buf = append(enc.buf, e.Text...)
		enc.buf = append(enc.buf, 0)
	}
	for _, c := range e.Children {
		if c == nil {
			return fmt.Errorf("%s: nil child", e.Tag)
		}
		if err := enc.element(c, depth+1); err != nil {
			return err
		}
	}
	enc.buf = append(enc.buf, tokEnd)
	return nil
}

func (enc *encoder) opaque(tag string, b []byte) error {
	if uint64(len(b)) > math.MaxUint32 {
		return fmt.Errorf("%s: %d bytes do not fit an mb_u_int32 length", tag, len(b))
	}
	enc.buf = append(enc.buf, tokOpaque)
	enc.buf = appendMBUint32(enc.buf, uint32(len(b)))
	enc.buf = append(enc.buf, b...)
	return nil
}

func appendMBUint32(b []byte, v uint32) []byte {
	var tmp [5]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7F)
	for v >>= 7; v != 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7F) | 0x80
	}
	return append(b, tmp[i:]...)
}

// Decode parses an ActiveSync WBXML document with DefaultLimits.
func Decode(data []byte) (*Element, error) {
	return Limits{}.Decode(data)
}

// Decode parses an ActiveSync WBXML document within l.
func (l Limits) Decode(data []byte) (*Element, error) {
	l = l.withDefaults()
	if len(data) == 0 {
		return nil, ErrEmpty
	}
	if len(data) > l.MaxSize {
		return nil, &DecodeError{0, fmt.Sprintf("document of %d bytes exceeds the limit of %d", len(data), l.MaxSize)}
	}
	d := decoder{data: data, lim: l}
	if err := d.header(); err != nil {
		return nil, err
	}
	return d.body()
}

type decoder struct {
	data  []byte
	pos   int
	page  byte
	lim   Limits
	count int
}

func (d *decoder) errf(format string, args ...any) error {
	return &DecodeError{d.pos, fmt.Sprintf(format, args...)}
}

func (d *decoder) byte() (byte, error) {
	if d.pos >= len(d.data) {
		return 0, d.errf("unexpected end of document")
	}
	b := d.data[d.pos]
	d.pos++
	return b, nil
}

// mbUint32 reads a WBXML multi-byte integer, rejecting values that overflow
// 32 bits or use more than five bytes.
func (d *decoder) mbUint32() (uint32, error) {
	start := d.pos
	var v uint32
	for i := 0; i < 5; i++ {
		b, err := d.byte()
		if err != nil {
			return 0, err
		}
		if v > (1<<32-1)>>7 {
			d.pos = start
			return 0, d.errf("mb_u_int32 overflows 32 bits")
		}
		v = v<<7 | uint32(b&0x7F)
		if b&0x80 == 0 {
			return v, nil
		}
	}
	d.pos = start
	return 0, d.errf("mb_u_int32 longer than 5 bytes")
}

func (d *decoder) header() error {
	v, err := d.byte()
	if err != nil {
		return err
	}
	if v < 0x01 || v > 0x03 {
		d.pos--
		return d.errf("unsupported WBXML version 0x%02x", v)
	}
	pid, err := d.mbUint32()
	if err != nil {
		return err
	}
	if pid == 0 { // public id given as a string table index, which EAS never uses
		if _, err := d.mbUint32(); err != nil {
			return err
		}
	}
	at := d.pos
	cs, err := d.mbUint32()
	if err != nil {
		return err
	}
	if cs != 106 {
		d.pos = at
		return d.errf("charset %d is not UTF-8 (106)", cs)
	}
	n, err := d.mbUint32()
	if err != nil {
		return err
	}
	// EAS has no STR_T, so a string table is skipped rather than refused.
	if uint64(n) > uint64(len(d.data)-d.pos) {
		return d.errf("string table of %d bytes runs past the end", n)
	}
	d.pos += int(n)
	return nil
}

func (d *decoder) body() (*Element, error) {
	var root *Element
	var stack []*Element
	for {
		if d.pos >= len(d.data) {
			if root == nil {
				return nil, d.errf("no root element")
			}
			if len(stack) > 0 {
				return nil, d.errf("unexpected end of document inside %s", stack[len(stack)-1].Tag)
			}
			return root, nil
		}
		at := d.pos
		tok, _ := d.byte()
		switch {
		case tok == tokSwitchPage:
			p, err := d.byte()
			if err != nil {
				return nil, err
			}
			d.page = p
		case tok == tokEnd:
			if len(stack) == 0 {
				d.pos = at
				return nil, d.errf("END outside any element")
			}
			stack = stack[:len(stack)-1]
		case tok == tokStrI:
			if len(stack) == 0 {
				d.pos = at
				return nil, d.errf("string outside any element")
			}
			s, err := d.strI()
			if err != nil {
				return nil, err
			}
			if err := d.addText(stack[len(stack)-1], s, nil, at); err != nil {
				return nil, err
			}
		case tok == tokOpaque:
			if len(stack) == 0 {
				d.pos = at
				return nil, d.errf("opaque data outside any element")
			}
			b, err := d.opaque()
			if err != nil {
				return nil, err
			}
			if err := d.addText(stack[len(stack)-1], "", b, at); err != nil {
				return nil, err
			}
		case tok&0x3F >= firstTagToken && tok&attrBit == 0:
			if root != nil && len(stack) == 0 {
				d.pos = at
				return nil, d.errf("second root element")
			}
			if len(stack) >= d.lim.MaxDepth {
				d.pos = at
				return nil, d.errf("elements nested deeper than %d", d.lim.MaxDepth)
			}
			if d.count++; d.count > d.lim.MaxElements {
				d.pos = at
				return nil, d.errf("more than %d elements", d.lim.MaxElements)
			}
			el := &Element{Tag: tagName(d.page, tok&0x3F)}
			if root == nil {
				root = el
			} else {
				parent := stack[len(stack)-1]
				if parent.Text != "" || parent.Opaque != nil {
					d.pos = at
					return nil, d.errf("%s mixes text and elements", parent.Tag)
				}
				parent.Children = append(parent.Children, el)
			}
			if tok&contentBit != 0 {
				stack = append(stack, el)
			}
		default:
			d.pos = at
			return nil, d.errf("token 0x%02x is not used by ActiveSync", tok)
		}
	}
}

// addText stores element content. EAS sends one string per element; a second
// piece is appended rather than refused, but mixing with children is not.
func (d *decoder) addText(el *Element, s string, b []byte, at int) error {
	if len(el.Children) > 0 {
		d.pos = at
		return d.errf("%s mixes text and elements", el.Tag)
	}
	if b != nil {
		s = string(b)
	}
	if el.Text != "" || el.Opaque != nil {
		if len(el.Text)+len(s) > d.lim.MaxString {
			d.pos = at
			return d.errf("%s: text exceeds %d bytes", el.Tag, d.lim.MaxString)
		}
		el.Text += s
		if el.Opaque != nil || b != nil {
			el.Opaque = []byte(el.Text)
		}
		return nil
	}
	el.Text, el.Opaque = s, b
	return nil
}

func (d *decoder) strI() (string, error) {
	start := d.pos
	for i := d.pos; i < len(d.data); i++ {
		if d.data[i] != 0 {
			continue
		}
		if i-start > d.lim.MaxString {
			return "", d.errf("string exceeds %d bytes", d.lim.MaxString)
		}
		b := d.data[start:i]
		if !utf8.Valid(b) {
			return "", d.errf("string is not valid UTF-8")
		}
		d.pos = i + 1
		return string(b), nil
	}
	return "", d.errf("string not terminated by NUL")
}

func (d *decoder) opaque() ([]byte, error) {
	n, err := d.mbUint32()
	if err != nil {
		return nil, err
	}
	if int64(n) > int64(d.lim.MaxOpaque) {
		return nil, d.errf("opaque data of %d bytes exceeds %d", n, d.lim.MaxOpaque)
	}
	if int64(n) > int64(len(d.data)-d.pos) {
		return nil, d.errf("opaque data of %d bytes runs past the end", n)
	}
	b := make([]byte, n)
	copy(b, d.data[d.pos:])
	d.pos += int(n)
	return b, nil
}
