package acmesrv

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// validationTimeout bounds one challenge validation: step-ca's client
// interface carries no context, and a request holds the CA (see
// ca.WithAuthority) while it validates.
const validationTimeout = 10 * time.Second

// maxChallengeBody is far above an http-01 key authorization (~90 bytes):
// step-ca reads the whole body, and the server it reads is the client's.
const maxChallengeBody = 64 << 10

// validationClient is step-ca's acme.Client with Options.Dial, no proxy
// (the CA must reach the name itself, not a proxy's idea of it) and bounds.
type validationClient struct {
	http *http.Client
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newValidationClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *validationClient {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return &validationClient{
		http: &http.Client{
			Timeout: validationTimeout,
			Transport: &http.Transport{
				DialContext: dial,
				// An http-01 answer may redirect to https, whose
				// certificate RFC 8555 §8.3 says is not checked.
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			},
		},
		dial: dial,
	}
}

func (c *validationClient) Get(url string) (*http.Response, error) {
	resp, err := c.http.Get(url)
	if err != nil {
		return nil, err
	}
	resp.Body = limitedBody{io.LimitReader(resp.Body, maxChallengeBody), resp.Body}
	return resp, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// LookupTxt serves dns-01, which pushca's provisioners do not offer.
func (c *validationClient) LookupTxt(string) ([]string, error) {
	return nil, errors.New("dns-01 is not offered by this CA")
}

func (c *validationClient) TLSDial(network, addr string, cfg *tls.Config) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), validationTimeout)
	defer cancel()
	raw, err := c.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// PortDialer is a Dial for Options that validates http-01 on port http01
// and tls-alpn-01 on port tlsALPN01 of the order's name instead of 80 and
// 443 (zero keeps the standard port): for ACME clients whose challenge
// server listens elsewhere, such as `certbot --http-01-port` behind a
// port forward, or a test on loopback.
func PortDialer(http01, tlsALPN01 int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	ports := map[string]int{"80": http01, "443": tlsALPN01}
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if p := ports[port]; p != 0 {
			addr = net.JoinHostPort(host, strconv.Itoa(p))
		}
		return d.DialContext(ctx, network, addr)
	}
}
