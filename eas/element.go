package eas

import "iter"

// Element is one WBXML element of an ActiveSync document. Tag is "Page:Name"
// as in [MS-ASWBXML] ("Ping:Status", "AirSyncBase:Body"). EAS elements carry
// either text or children, never attributes.
type Element struct {
	Tag      string
	Text     string
	Opaque   []byte // non-nil when the content travels as OPAQUE; Text holds the same bytes
	Children []*Element
}

// NewElement returns an element with children; nil children are dropped so
// callers can build optional parts inline.
func NewElement(tag string, children ...*Element) *Element {
	e := &Element{Tag: tag}
	for _, c := range children {
		if c != nil {
			e.Children = append(e.Children, c)
		}
	}
	return e
}

// TextElement returns an element holding text (sent as STR_I).
func TextElement(tag, text string) *Element {
	return &Element{Tag: tag, Text: text}
}

// Child returns the first child with tag, or nil.
func (e *Element) Child(tag string) *Element {
	if e == nil {
		return nil
	}
	for _, c := range e.Children {
		if c.Tag == tag {
			return c
		}
	}
	return nil
}

// ChildText returns the text of the first child with tag, "" when absent.
func (e *Element) ChildText(tag string) string {
	if c := e.Child(tag); c != nil {
		return c.Text
	}
	return ""
}

// All yields every child with tag, in document order.
func (e *Element) All(tag string) iter.Seq[*Element] {
	return func(yield func(*Element) bool) {
		if e == nil {
			return
		}
		for _, c := range e.Children {
			if c.Tag == tag && !yield(c) {
				return
			}
		}
	}
}

// Find follows a path of tags from e ("Policies", "Policy", "Data") and
// returns the first match, or nil.
func (e *Element) Find(path ...string) *Element {
	for _, t := range path {
		e = e.Child(t)
	}
	return e
}
