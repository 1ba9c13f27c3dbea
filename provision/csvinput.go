package provision

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// sniffBuffer is how much of a user list is read ahead to find its header
// row: far more than any header, and a bufio.Reader needs a bound.
const sniffBuffer = 64 << 10

// workbooks are the magic numbers of files people pick instead of the CSV
// they meant to export.
var workbooks = []struct {
	magic []byte
	what  string
}{
	{[]byte("PK\x03\x04"), "an Excel workbook (.xlsx) or another zip file"},
	{[]byte("\xd0\xcf\x11\xe0"), "an Excel 97-2003 workbook (.xls)"},
}

// csvInput undoes what spreadsheets do to a CSV file on the way out: the
// byte-order mark of Excel's "CSV UTF-8"; UTF-16, which Excel's "Unicode
// Text" writes (tab-separated, too); and the semicolon that Excel puts
// between fields wherever the comma is the decimal separator (most of
// Europe). It returns the text as UTF-8 and the separator of the header
// row: whichever of ',', ';' and tab it holds most of.
func csvInput(r io.Reader) (io.Reader, rune, error) {
	br := bufio.NewReaderSize(r, sniffBuffer)
	head, _ := br.Peek(4)
	for _, w := range workbooks {
		if bytes.HasPrefix(head, w.magic) {
			return nil, 0, fmt.Errorf("this is %s, not CSV: in the spreadsheet, Save As \"CSV UTF-8 (comma delimited)\"", w.what)
		}
	}
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(head, []byte("\xef\xbb\xbf")):
		br.Discard(3)
	case bytes.HasPrefix(head, []byte("\xff\xfe")):
		order = binary.LittleEndian
		br.Discard(2)
	case bytes.HasPrefix(head, []byte("\xfe\xff")):
		order = binary.BigEndian
		br.Discard(2)
	// A header starts with an ASCII letter, which UTF-16 without a
	// byte-order mark pairs with a zero byte.
	case len(head) >= 2 && head[0] != 0 && head[1] == 0:
		order = binary.LittleEndian
	case len(head) >= 2 && head[0] == 0 && head[1] != 0:
		order = binary.BigEndian
	}
	if order != nil {
		raw, err := io.ReadAll(br)
		if err != nil {
			return nil, 0, fmt.Errorf("read users: %w", err)
		}
		text, err := decodeUTF16(raw, order)
		if err != nil {
			return nil, 0, err
		}
		br = bufio.NewReaderSize(bytes.NewReader(text), sniffBuffer)
	}
	buf, _ := br.Peek(sniffBuffer)
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i]
	}
	sep := ','
	for _, c := range []rune{';', '\t'} {
		if bytes.Count(buf, []byte{byte(c)}) > bytes.Count(buf, []byte{byte(sep)}) {
			sep = c
		}
	}
	return br, sep, nil
}

// decodeUTF16 converts UTF-16 text to UTF-8, refusing what does not decode
// rather than putting U+FFFD into a user name.
func decodeUTF16(b []byte, order binary.ByteOrder) ([]byte, error) {
	if len(b)%2 != 0 {
		return nil, errors.New("UTF-16 text of an odd number of bytes: the file is cut short; save it as \"CSV UTF-8\"")
	}
	out := make([]byte, 0, len(b)/2)
	line := 1
	for i := 0; i < len(b); i += 2 {
		r := rune(order.Uint16(b[i:]))
		if utf16.IsSurrogate(r) {
			if i+4 <= len(b) {
				r = utf16.DecodeRune(r, rune(order.Uint16(b[i+2:])))
				i += 2
			}
			if r == utf8.RuneError || utf16.IsSurrogate(r) {
				return nil, fmt.Errorf("line %d: broken UTF-16 (a lone surrogate); save the file as \"CSV UTF-8\"", line)
			}
		}
		if r == '\n' {
			line++
		}
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}
