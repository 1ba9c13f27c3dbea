package eas

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Message is a typed command body (a request or a response). Its fields carry
// `wbxml:"Page:Name[,option...]"` tags read by Marshal and Unmarshal:
//
//	omitempty  leave the element out when the value is the zero value
//	flag       a bool sent as an empty element when true, omitted when false
//	chardata   the element's own text (tag name left empty)
//
// A tag "Outer>Inner" puts the values inside one Outer element, created only
// when there is a value to put in it (Ping:Folders>Ping:Folder).
//
// Slices repeat their element, pointers are optional elements, structs nest,
// []byte travels as OPAQUE, bools as 0/1, time.Time as EAS UTC time, and
// integers as decimal text, as [MS-ASCMD] specifies.
type Message interface {
	rootTag() string
}

// Marshal encodes m as a WBXML document.
func Marshal(m Message) ([]byte, error) {
	root, err := ToElement(m)
	if err != nil {
		return nil, err
	}
	return Encode(root)
}

// ToElement converts m to its element tree.
func ToElement(m Message) (*Element, error) {
	v := reflect.ValueOf(m)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, errors.New("eas: marshal: nil message")
		}
		v = v.Elem()
	}
	e, err := structElement(m.rootTag(), v)
	if err != nil {
		return nil, fmt.Errorf("eas: marshal %s: %w", m.rootTag(), err)
	}
	return e, nil
}

// Unmarshal decodes a WBXML document into m, with DefaultLimits.
func Unmarshal(data []byte, m Message) error {
	return Limits{}.Unmarshal(data, m)
}

// Unmarshal decodes a WBXML document into m within l. An empty document gives
// ErrEmpty; the Parse functions of commands where an empty body has a meaning
// turn it into the zero value.
func (l Limits) Unmarshal(data []byte, m Message) error {
	root, err := l.Decode(data)
	if err != nil {
		return err
	}
	return FromElement(root, m)
}

// FromElement fills m from an element tree and checks what the type
// constrains (SyncKey length). Unknown children are skipped, as [MS-ASCMD]
// servers and clients do, so newer peers stay readable.
func FromElement(root *Element, m Message) error {
	if root.Tag != m.rootTag() {
		return fmt.Errorf("eas: root element is %s, want %s", root.Tag, m.rootTag())
	}
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return errors.New("eas: unmarshal needs a non-nil pointer")
	}
	if err := fillStruct(root, v.Elem()); err != nil {
		return fmt.Errorf("eas: %s: %w", root.Tag, err)
	}
	if v, ok := m.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return fmt.Errorf("eas: %s: %w", root.Tag, err)
		}
	}
	return nil
}

// parse is the body of every ParseXxx function: a fresh T decoded from data
// with DefaultLimits (Limits.Unmarshal takes others). emptyOK marks commands
// where an empty body is legal (Ping, Sync).
func parse[T any, P interface {
	*T
	Message
}](data []byte, emptyOK bool) (*T, error) {
	p := P(new(T))
	if len(data) == 0 && emptyOK {
		return p, nil
	}
	if err := Unmarshal(data, p); err != nil {
		return nil, err
	}
	return p, nil
}

type fieldSpec struct {
	parent, tag               string
	omitEmpty, flag, chardata bool
}

func specOf(f reflect.StructField) (fieldSpec, bool) {
	t, ok := f.Tag.Lookup("wbxml")
	if !ok || t == "-" || !f.IsExported() {
		return fieldSpec{}, false
	}
	name, opts, _ := strings.Cut(t, ",")
	s := fieldSpec{tag: name}
	if p, c, ok := strings.Cut(name, ">"); ok {
		s.parent, s.tag = p, c
	}
	for o := range strings.SplitSeq(opts, ",") {
		switch o {
		case "omitempty":
			s.omitEmpty = true
		case "flag":
			s.flag = true
		case "chardata":
			s.chardata = true
		}
	}
	return s, true
}

var timeType = reflect.TypeFor[time.Time]()

// TimeFormat is how EAS writes dates (DateReceived and friends): UTC with
// milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

func structElement(tag string, v reflect.Value) (*Element, error) {
	e := &Element{Tag: tag}
	t := v.Type()
	for i := range t.NumField() {
		s, ok := specOf(t.Field(i))
		if !ok {
			continue
		}
		fv := v.Field(i)
		if s.chardata {
			if fv.Kind() != reflect.String {
				return nil, fmt.Errorf("%s: chardata field %s is not a string", tag, t.Field(i).Name)
			}
			e.Text = fv.String()
			continue
		}
		if s.parent == "" {
			if err := appendField(e, s, fv); err != nil {
				return nil, err
			}
			continue
		}
		wrap := &Element{Tag: s.parent}
		if err := appendField(wrap, s, fv); err != nil {
			return nil, err
		}
		switch n := len(e.Children); {
		case len(wrap.Children) == 0:
		case n > 0 && e.Children[n-1].Tag == s.parent:
			e.Children[n-1].Children = append(e.Children[n-1].Children, wrap.Children...)
		default:
			e.Children = append(e.Children, wrap)
		}
	}
	if e.Text != "" && len(e.Children) > 0 {
		return nil, fmt.Errorf("%s: both text and child elements set", tag)
	}
	return e, nil
}

func appendField(parent *Element, s fieldSpec, v reflect.Value) error {
	switch {
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return appendField(parent, fieldSpec{tag: s.tag, flag: s.flag}, v.Elem())
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8:
		for i := range v.Len() {
			if err := appendField(parent, fieldSpec{tag: s.tag}, v.Index(i)); err != nil {
				return err
			}
		}
		return nil
	case s.omitEmpty && v.IsZero():
		return nil
	case s.flag:
		if v.Kind() != reflect.Bool {
			return fmt.Errorf("%s: flag on a %s", s.tag, v.Type())
		}
		if v.Bool() {
			parent.Children = append(parent.Children, &Element{Tag: s.tag})
		}
		return nil
	case v.Kind() == reflect.Struct && v.Type() != timeType:
		c, err := structElement(s.tag, v)
		if err != nil {
			return err
		}
		parent.Children = append(parent.Children, c)
		return nil
	case v.Kind() == reflect.Slice:
		parent.Children = append(parent.Children, &Element{Tag: s.tag, Opaque: append([]byte{}, v.Bytes()...)})
		return nil
	}
	text, err := formatScalar(v)
	if err != nil {
		return fmt.Errorf("%s: %w", s.tag, err)
	}
	parent.Children = append(parent.Children, &Element{Tag: s.tag, Text: text})
	return nil
}

func formatScalar(v reflect.Value) (string, error) {
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		if v.Bool() {
			return "1", nil
		}
		return "0", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), nil
	case reflect.Struct:
		if v.Type() == timeType {
			return v.Interface().(time.Time).UTC().Format(TimeFormat), nil
		}
	}
	return "", fmt.Errorf("unsupported type %s", v.Type())
}

func fillStruct(e *Element, v reflect.Value) error {
	t := v.Type()
	type target struct {
		index int
		spec  fieldSpec
	}
	fields := make(map[string]target, t.NumField())
	wrapped := make(map[string]map[string]target)
	for i := range t.NumField() {
		s, ok := specOf(t.Field(i))
		switch {
		case !ok:
		case s.chardata:
			v.Field(i).SetString(e.Text)
		case s.parent != "":
			if wrapped[s.parent] == nil {
				wrapped[s.parent] = make(map[string]target)
			}
			wrapped[s.parent][s.tag] = target{i, s}
		default:
			fields[s.tag] = target{i, s}
		}
	}
	seen := make(map[string]bool, len(e.Children))
	fill := func(c *Element, f target, path string) error {
		fv := v.Field(f.index)
		repeated := fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() != reflect.Uint8
		if !repeated && seen[path] {
			return fmt.Errorf("%s: repeated", path)
		}
		seen[path] = true
		return fillValue(c, f.spec, fv)
	}
	for _, c := range e.Children {
		if f, ok := fields[c.Tag]; ok {
			if err := fill(c, f, c.Tag); err != nil {
				return err
			}
		}
		inner, ok := wrapped[c.Tag]
		if !ok {
			continue
		}
		for _, gc := range c.Children {
			if f, ok := inner[gc.Tag]; ok {
				if err := fill(gc, f, c.Tag+"/"+gc.Tag); err != nil {
					return fmt.Errorf("%s/%w", c.Tag, err)
				}
			}
		}
	}
	return nil
}

func fillValue(e *Element, s fieldSpec, v reflect.Value) error {
	switch {
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return fillValue(e, s, v.Elem())
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8:
		item := reflect.New(v.Type().Elem()).Elem()
		if err := fillValue(e, fieldSpec{tag: s.tag}, item); err != nil {
			return err
		}
		v.Set(reflect.Append(v, item))
		return nil
	case s.flag:
		v.SetBool(true)
		return nil
	case v.Kind() == reflect.Struct && v.Type() != timeType:
		if err := fillStruct(e, v); err != nil {
			return fmt.Errorf("%s/%w", e.Tag, err)
		}
		return nil
	case v.Kind() == reflect.Slice:
		if e.Opaque != nil {
			v.SetBytes(append([]byte{}, e.Opaque...))
		} else {
			v.SetBytes([]byte(e.Text))
		}
		return nil
	}
	if len(e.Children) > 0 {
		return fmt.Errorf("%s: want text, got child elements", e.Tag)
	}
	if err := parseScalar(e.Text, v); err != nil {
		return fmt.Errorf("%s: %w", e.Tag, err)
	}
	return nil
}

func parseScalar(s string, v reflect.Value) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
		return nil
	case reflect.Bool:
		switch s {
		case "1", "", "true": // an empty tag means true ([MS-ASCMD] GetChanges)
			v.SetBool(true)
		case "0", "false":
			v.SetBool(false)
		default:
			return fmt.Errorf("invalid boolean %q", s)
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", truncate(s))
		}
		v.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid unsigned integer %q", truncate(s))
		}
		v.SetUint(n)
		return nil
	case reflect.Struct:
		if v.Type() == timeType {
			t, err := ParseTime(s)
			if err != nil {
				return err
			}
			v.Set(reflect.ValueOf(t))
			return nil
		}
	}
	return fmt.Errorf("unsupported type %s", v.Type())
}

// ParseTime reads an EAS date: the 12.0+ form with milliseconds, RFC 3339,
// or the compact basic form 2.5 devices write in some places.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{TimeFormat, time.RFC3339Nano, "20060102T150405Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q", truncate(s))
}

// truncate keeps error messages about hostile input short.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
