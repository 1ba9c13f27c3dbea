package provision

import (
	"bytes"
	"fmt"
	"strings"
)

// characteristic is one node of a wap-provisioningdoc. Every Windows Mobile
// document is built as such a tree and written by the one template, so
// escaping and layout are decided in a single place.
type characteristic struct {
	Type     string
	Parms    []parm
	Children []*characteristic
	// Indent is filled just before rendering; text/template cannot count.
	Indent string
}

type parm struct{ Name, Value string }

func (c *characteristic) add(name, value string) {
	c.Parms = append(c.Parms, parm{name, value})
}

func (c *characteristic) setIndent(depth int) {
	c.Indent = strings.Repeat("  ", depth)
	for _, ch := range c.Children {
		ch.setIndent(depth + 1)
	}
}

// WMDocument is the content of one Windows Mobile provisioning document
// (_setup.xml). Either part may be nil; a document with both installs the
// certificates before the account, so the first sync already trusts them.
type WMDocument struct {
	Chain   *Chain
	Account *Account
	// Sync is used only with an Account; start from DefaultSyncOptions.
	Sync SyncOptions
}

// XML renders the document and parse-checks it.
func (d WMDocument) XML() ([]byte, error) {
	var top []*characteristic
	if d.Chain != nil {
		c, err := certificateStore(*d.Chain)
		if err != nil {
			return nil, err
		}
		top = append(top, c)
	}
	if d.Account != nil {
		c, err := syncCSP(*d.Account, d.Sync)
		if err != nil {
			return nil, err
		}
		top = append(top, c)
	}
	if len(top) == 0 {
		return nil, fmt.Errorf("empty provisioning document: give a certificate chain, an account or both")
	}
	return renderWM(top)
}

func renderWM(top []*characteristic) ([]byte, error) {
	t, err := wmTemplate()
	if err != nil {
		return nil, err
	}
	for _, c := range top {
		c.setIndent(1)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, top); err != nil {
		return nil, fmt.Errorf("render provisioning document: %w", err)
	}
	if err := parseCheck("provisioning document", b.Bytes()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
