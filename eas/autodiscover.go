package eas

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Autodiscover for mobile devices ([MS-ASCMD] 2.2.1.1): plain XML, not
// WBXML, POSTed to AutodiscoverPath. Schemas: [MS-ASCMD] 6.2 to 6.4.
const (
	AutodiscoverPath = "/autodiscover/autodiscover.xml"
	// AutodiscoverRequestSchema is the namespace of a mobile request.
	AutodiscoverRequestSchema = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	// MobileSyncResponseSchema is the only AcceptableResponseSchema a
	// mobilesync provider answers, and the namespace of its Response.
	MobileSyncResponseSchema = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
	// autodiscoverResponseNS is the namespace of every response's root.
	autodiscoverResponseNS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	// MaxAutodiscoverSize bounds a request or response body: a real one is
	// well under 2 KiB.
	MaxAutodiscoverSize = 64 << 10
	// AutodiscoverContentType is what both sides send ([MS-ASCMD] 2.2.1.1).
	AutodiscoverContentType = "text/xml; charset=utf-8"
)

// Error codes of a response's top-level Error ([MS-ASCMD] 2.2.3.64).
const (
	AutodiscoverInvalidRequest    = 600 // the request is malformed
	AutodiscoverSchemaUnavailable = 601 // no provider for the AcceptableResponseSchema
)

// AutodiscoverProtocolError is the one error Status of a mobilesync
// Action/Error ([MS-ASCMD] 2.2.3.177.1).
const AutodiscoverProtocolError = 2

// AutodiscoverRequest is a mobile Autodiscover request.
type AutodiscoverRequest struct {
	EMailAddress             string
	AcceptableResponseSchema string
}

type xmlADRequest struct {
	XMLName  xml.Name `xml:"Autodiscover"`
	Requests []struct {
		EMailAddress             []string `xml:"EMailAddress"`
		AcceptableResponseSchema []string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

// ErrAutodiscoverRequest is what ParseAutodiscoverRequest wraps for a body
// that is not one Request with one EMailAddress: the server answers it with
// AutodiscoverInvalidRequest.
var ErrAutodiscoverRequest = errors.New("eas: invalid Autodiscover request")

// ParseAutodiscoverRequest reads a request. Elements are matched by local
// name: clients that put the Outlook request namespace on a mobilesync
// request are common, and the AcceptableResponseSchema says what they want.
func ParseAutodiscoverRequest(data []byte) (*AutodiscoverRequest, error) {
	if len(data) > MaxAutodiscoverSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrAutodiscoverRequest, len(data), MaxAutodiscoverSize)
	}
	var doc xmlADRequest
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAutodiscoverRequest, err)
	}
	if len(doc.Requests) != 1 {
		return nil, fmt.Errorf("%w: %d Request elements, want 1", ErrAutodiscoverRequest, len(doc.Requests))
	}
	r := doc.Requests[0]
	if len(r.EMailAddress) != 1 || len(r.AcceptableResponseSchema) > 1 {
		return nil, fmt.Errorf("%w: want one EMailAddress and at most one AcceptableResponseSchema", ErrAutodiscoverRequest)
	}
	out := &AutodiscoverRequest{EMailAddress: strings.TrimSpace(r.EMailAddress[0])}
	if len(r.AcceptableResponseSchema) == 1 {
		out.AcceptableResponseSchema = strings.TrimSpace(r.AcceptableResponseSchema[0])
	}
	if out.EMailAddress == "" {
		return nil, fmt.Errorf("%w: empty EMailAddress", ErrAutodiscoverRequest)
	}
	return out, nil
}

// Marshal writes the request as a device sends it.
func (r *AutodiscoverRequest) Marshal() ([]byte, error) {
	type request struct {
		EMailAddress             string
		AcceptableResponseSchema string
	}
	doc := struct {
		XMLName xml.Name `xml:"Autodiscover"`
		XMLNS   string   `xml:"xmlns,attr"`
		Request request
	}{XMLNS: AutodiscoverRequestSchema, Request: request(*r)}
	return marshalXML(doc)
}

// AutodiscoverResponse is a mobilesync Response. Exactly one of URL (the
// MobileSync server), Redirect (another e-mail address to discover with)
// and Error is set.
type AutodiscoverResponse struct {
	Culture      string
	DisplayName  string
	EMailAddress string
	URL          string
	Redirect     string
	Error        *AutodiscoverError
}

// AutodiscoverError is an Error: in Action (Status, Message, DebugData) or
// at the top of a response (ErrorCode, Message, DebugData).
type AutodiscoverError struct {
	Status    int
	ErrorCode int
	Message   string
	DebugData string
}

func (e *AutodiscoverError) Error() string {
	s := "eas: Autodiscover error"
	if e.ErrorCode != 0 {
		s += fmt.Sprintf(" %d", e.ErrorCode)
	}
	if e.Status != 0 {
		s += fmt.Sprintf(", status %d", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// The XML shape of §6.2 and §6.4, read by local name. A response has one
// Response: a mobilesync one (Culture, User, Action) or, when no provider
// took the request, one in the root's namespace holding Error.
type (
	xmlADResponse struct {
		XMLName  xml.Name  `xml:"Autodiscover"`
		XMLNS    string    `xml:"xmlns,attr,omitempty"`
		Response []xmlResp `xml:"Response"`
	}
	xmlResp struct {
		XMLName xml.Name
		XMLNS   string     `xml:"xmlns,attr,omitempty"`
		Culture string     `xml:"Culture,omitempty"`
		User    *xmlUser   `xml:"User"`
		Action  *xmlAction `xml:"Action"`
		Error   *xmlError  `xml:"Error"`
	}
	xmlUser struct {
		DisplayName  string `xml:"DisplayName,omitempty"`
		EMailAddress string `xml:"EMailAddress"`
	}
	xmlAction struct {
		Redirect string       `xml:"Redirect,omitempty"`
		Settings *xmlSettings `xml:"Settings"`
		Error    *xmlError    `xml:"Error"`
	}
	xmlSettings struct {
		Servers []xmlServer `xml:"Server"`
	}
	xmlServer struct {
		Type string `xml:"Type"`
		URL  string `xml:"Url"`
		Name string `xml:"Name,omitempty"`
	}
	// xmlError serves both Errors: Status only in Action's, Time only at
	// the top, where ErrorCode, Message and DebugData come in this order.
	xmlError struct {
		Time      string `xml:"Time,attr,omitempty"`
		Status    int    `xml:"Status,omitempty"`
		ErrorCode int    `xml:"ErrorCode,omitempty"`
		Message   string `xml:"Message,omitempty"`
		DebugData string `xml:"DebugData,omitempty"`
	}
)

// mobileSyncServer is the Server Type of an ActiveSync endpoint.
const mobileSyncServer = "MobileSync"

// Marshal writes r as a mobilesync response document.
func (r *AutodiscoverResponse) Marshal() ([]byte, error) {
	m := xmlResp{XMLName: xml.Name{Local: "Response"}, XMLNS: MobileSyncResponseSchema, Culture: r.Culture, Action: &xmlAction{Redirect: r.Redirect}}
	if r.EMailAddress != "" {
		m.User = &xmlUser{DisplayName: r.DisplayName, EMailAddress: r.EMailAddress}
	}
	if r.URL != "" {
		m.Action.Settings = &xmlSettings{Servers: []xmlServer{{Type: mobileSyncServer, URL: r.URL, Name: r.URL}}}
	}
	if e := r.Error; e != nil {
		m.Action.Error = &xmlError{Status: e.Status, ErrorCode: e.ErrorCode, Message: e.Message, DebugData: e.DebugData}
	}
	return marshalXML(xmlADResponse{XMLNS: autodiscoverResponseNS, Response: []xmlResp{m}})
}

// MarshalAutodiscoverFailure writes the response of a request no provider
// answers (code AutodiscoverInvalidRequest or AutodiscoverSchemaUnavailable),
// stamped with the time of day it was received.
func MarshalAutodiscoverFailure(code int, message string, received time.Time) ([]byte, error) {
	f := &xmlError{Time: received.UTC().Format("15:04:05.0000000"), ErrorCode: code, Message: message}
	return marshalXML(xmlADResponse{XMLNS: autodiscoverResponseNS, Response: []xmlResp{{XMLName: xml.Name{Local: "Response"}, Error: f}}})
}

func marshalXML(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	if err := xml.NewEncoder(&b).Encode(v); err != nil {
		return nil, fmt.Errorf("eas: encode Autodiscover XML: %w", err)
	}
	return b.Bytes(), nil
}

// ParseAutodiscoverResponse reads a server's answer. A top-level Error
// comes back as the error (an *AutodiscoverError); an Action/Error is in
// the response, for the caller to report with the user it names.
func ParseAutodiscoverResponse(data []byte) (*AutodiscoverResponse, error) {
	if len(data) > MaxAutodiscoverSize {
		return nil, fmt.Errorf("eas: Autodiscover response of %d bytes, at most %d", len(data), MaxAutodiscoverSize)
	}
	var doc xmlADResponse
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("eas: Autodiscover response: %w", err)
	}
	if doc.XMLName.Space != autodiscoverResponseNS {
		return nil, fmt.Errorf("eas: Autodiscover response in namespace %q, want %s", truncate(doc.XMLName.Space), autodiscoverResponseNS)
	}
	if len(doc.Response) != 1 {
		return nil, fmt.Errorf("eas: Autodiscover response holds %d Response elements, want 1", len(doc.Response))
	}
	m := doc.Response[0]
	switch m.XMLName.Space {
	case MobileSyncResponseSchema:
	case autodiscoverResponseNS:
		if f := m.Error; f != nil {
			return nil, &AutodiscoverError{ErrorCode: f.ErrorCode, Message: f.Message, DebugData: f.DebugData}
		}
		return nil, errors.New("eas: Autodiscover response holds neither a mobilesync Response nor an Error")
	default:
		return nil, fmt.Errorf("eas: Autodiscover Response in namespace %q, not mobilesync (a response of another schema?)", truncate(m.XMLName.Space))
	}
	r := &AutodiscoverResponse{Culture: m.Culture}
	if m.User != nil {
		r.DisplayName, r.EMailAddress = m.User.DisplayName, m.User.EMailAddress
	}
	if a := m.Action; a != nil {
		r.Redirect = a.Redirect
		if a.Settings != nil {
			for _, s := range a.Settings.Servers {
				if s.Type == mobileSyncServer && r.URL == "" {
					r.URL = s.URL
				}
			}
		}
		if e := a.Error; e != nil {
			r.Error = &AutodiscoverError{Status: e.Status, ErrorCode: e.ErrorCode, Message: e.Message, DebugData: e.DebugData}
		}
	}
	if r.URL == "" && r.Redirect == "" && r.Error == nil {
		return nil, errors.New("eas: Autodiscover response names no MobileSync server, redirect or error")
	}
	return r, nil
}
