package load

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Suite is one kind of handshake a device makes.
type Suite struct {
	Name     string
	Version  uint16
	Suites   []uint16 // nil: Go's defaults for Version
	LeafType string   // "RSA" or "ECDSA": the key the server must present
}

// Suites are the handshakes of the fleet: Windows Mobile's TLS 1.0 with RSA
// key exchange, TLS 1.2 with each key type, and TLS 1.3 (where the server
// picks the certificate, so its key type is reported, not chosen).
func Suites() []Suite {
	return []Suite{
		{"TLS 1.0 RSA key exchange", tls.VersionTLS10, []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}, "RSA"},
		{"TLS 1.2 ECDHE-RSA", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, "RSA"},
		{"TLS 1.2 ECDHE-ECDSA", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, "ECDSA"},
		{"TLS 1.3", tls.VersionTLS13, nil, ""},
	}
}

// Handshakes is one suite's measured rate.
type Handshakes struct {
	Suite  string  `json:"suite"`
	Count  int64   `json:"count"`
	Errors int64   `json:"errors"`
	Leaf   string  `json:"leaf_key,omitempty"`
	PerSec float64 `json:"per_second"`
	// PerCoreSec divides by the CPU seconds the server used meanwhile:
	// what one core of the server sustains, whatever the client costs.
	PerCoreSec float64 `json:"per_server_core_second,omitempty"`
	FirstError string  `json:"first_error,omitempty"`
}

// MeasureHandshakes runs full handshakes (no resumption) of suite against
// addr from workers goroutines for d.
func MeasureHandshakes(ctx context.Context, addr, serverName string, roots []*x509.Certificate, suite Suite, workers int, d time.Duration, server *Process) (Handshakes, error) {
	out := Handshakes{Suite: suite.Name}
	// No ClientSessionCache: every handshake is a full one.
	cfg := tlsConfig(roots, serverName)
	cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites = suite.Version, suite.Version, suite.Suites
	var cpu0 float64
	if server != nil {
		var err error
		if cpu0, err = server.CPUSeconds(); err != nil {
			return out, err
		}
	}
	// Workers stop starting handshakes at end but finish the one under way,
	// so a deadline never shows up as a failed handshake.
	end := time.Now().Add(d)
	var count, errs atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
			for i := 0; i < 1_000_000 && ctx.Err() == nil && time.Now().Before(end); i++ {
				leaf, err := handshake(ctx, dialer, addr, suite.LeafType)
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if out.FirstError == "" {
						out.FirstError = err.Error()
					}
					mu.Unlock()
					continue
				}
				count.Add(1)
				mu.Lock()
				out.Leaf = leaf
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	out.Count, out.Errors = count.Load(), errs.Load()
	out.PerSec = float64(out.Count) / elapsed
	if server != nil {
		cpu1, err := server.CPUSeconds()
		if err != nil {
			return out, err
		}
		if used := cpu1 - cpu0; used > 0 {
			out.PerCoreSec = float64(out.Count) / used
		}
	}
	if out.Count == 0 {
		return out, fmt.Errorf("load: no %s handshake succeeded: %s", suite.Name, out.FirstError)
	}
	return out, nil
}

func handshake(ctx context.Context, d *tls.Dialer, addr, wantLeaf string) (string, error) {
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	leaf := leafType(conn.(*tls.Conn).ConnectionState())
	if wantLeaf != "" && leaf != wantLeaf {
		return leaf, fmt.Errorf("the server presented an %s certificate, not %s", leaf, wantLeaf)
	}
	return leaf, nil
}

func leafType(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	switch cs.PeerCertificates[0].PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	}
	return "other"
}
