package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smallstep/certificates/authority/provisioner"
	"go.step.sm/crypto/x509util"

	"github.com/pushca/pushca/internal/pgtest"
	"github.com/pushca/pushca/profile"
)

// benchParallelism is goroutines per core in the parallel benchmarks: an
// issuance waits on fsync, so more goroutines than cores keep the cores busy
// and give the group commit something to group. The signing baseline runs
// with the same setting so the two compare like with like.
const benchParallelism = 4

// BenchmarkRSA2048Sign is the baseline of the issuance goal: one bare
// PKCS#1 v1.5 signature with a 2048-bit key, the floor of any issuance.
func BenchmarkRSA2048Sign(b *testing.B) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte("tbs"))
	sign := func() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:]); err != nil {
			b.Error(err)
		}
	}
	b.Run("serial", func(b *testing.B) { each(b, false, sign) })
	b.Run("parallel", func(b *testing.B) { each(b, true, sign) })
}

// BenchmarkIssue measures whole issuances (sign, self-check, inventory,
// files) per chain family, with a CSR supplied and with key generation, one
// at a time and from concurrent callers (each a distinct host). Beside the
// CSR case, in the same run and on the same kind of directory, step-ca is
// the peer: its own authority started from the family's config/ca*.json as
// `step-ca` starts it (bbolt with its default durability: an fsync'd
// transaction per write), doing what one request to its /1.0/sign does
// minus HTTP: authorize a JWK token (which records the token as used) and
// sign with the provisioner's options, the family's template included.
// Tokens are made before the timer starts; clients make them.
func BenchmarkIssue(b *testing.B) {
	ctx := context.Background()
	for _, f := range profile.Families() {
		c := newCA(b, f.Name)
		key, csr := benchCSR(b, f)
		var n atomic.Int64
		issue := func(b *testing.B, mode string) {
			req := IssueRequest{Host: fmt.Sprintf("h%d.example.com", n.Add(1))}
			if mode == "csr" {
				req.CSR = csr
			}
			if _, err := c.Issue(ctx, req); err != nil {
				b.Error(err)
			}
		}
		peer := newStepCASigner(b, f, key)
		for _, mode := range []string{"csr", "step-ca", "keygen"} {
			for _, parallel := range []bool{false, true} {
				name := f.Name + "/" + mode + map[bool]string{true: "/parallel"}[parallel]
				b.Run(name, func(b *testing.B) {
					if mode == "step-ca" {
						peer.run(b, parallel)
						return
					}
					each(b, parallel, func() { issue(b, mode) })
				})
			}
		}
		for _, parallel := range []bool{false, true} {
			name := f.Name + "/versus" + map[bool]string{true: "/parallel"}[parallel]
			b.Run(name, func(b *testing.B) { peer.versus(b, parallel, func() { issue(b, "csr") }) })
		}
		peer.stop()
	}
}

// stepCASigner is step-ca's authority on a copy of a family's directory.
type stepCASigner struct {
	p    *stepPeer
	key  crypto.Signer
	stop func()
}

func newStepCASigner(b *testing.B, f profile.Family, key crypto.Signer) *stepCASigner {
	c := newCA(b, f.Name)
	dir, s := c.layout.Dir, c.Slots()[0]
	c.Close()
	p := startStepPeer(b, dir, s)
	return &stepCASigner{p: p, key: key, stop: p.stop}
}

// each runs fn b.N times, one at a time or from benchParallelism
// goroutines per core.
func each(b *testing.B, parallel bool, fn func()) {
	if !parallel {
		for range b.N {
			fn()
		}
		return
	}
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			fn()
		}
	})
}

// prepare makes n tokens and the CSR with the timer stopped: clients make
// them, not the CA.
func (s *stepCASigner) prepare(b *testing.B, n int) (chan string, *x509.CertificateRequest) {
	const host = "bench.example.com"
	b.StopTimer()
	defer b.StartTimer()
	tokens := make(chan string, n)
	for range n {
		tokens <- jwkToken(b, s.p.key, s.p.audience, host, host)
	}
	close(tokens)
	csr, err := x509util.CreateCertificateRequest(host, []string{host}, s.key)
	if err != nil {
		b.Fatal(err)
	}
	return tokens, csr
}

// sign is one request to step-ca's /1.0/sign minus HTTP.
func (s *stepCASigner) sign(b *testing.B, ott string, csr *x509.CertificateRequest) {
	ctx := provisioner.NewContextWithMethod(context.Background(), provisioner.SignMethod)
	opts, err := s.p.a.Authorize(ctx, ott)
	if err != nil {
		b.Error(err)
		return
	}
	if _, err := s.p.a.SignWithContext(ctx, csr, provisioner.SignOptions{}, opts...); err != nil {
		b.Error(err)
	}
}

// run signs b.N certificates.
func (s *stepCASigner) run(b *testing.B, parallel bool) {
	tokens, csr := s.prepare(b, b.N)
	each(b, parallel, func() { s.sign(b, <-tokens, csr) })
}

// versus alternates one pushca issuance and one step-ca signature, in
// turn first, and reports each one's mean and their ratio: on a machine
// others load, both see the same load, which runs of their own do not.
// In parallel each goroutine alternates, so both sides always run beside
// the same mix of the two.
func (s *stepCASigner) versus(b *testing.B, parallel bool, issue func()) {
	tokens, csr := s.prepare(b, b.N)
	var pushca, step, turn atomic.Int64
	each(b, parallel, func() {
		first := turn.Add(1)%2 == 0
		t0 := time.Now()
		if first {
			issue()
		} else {
			s.sign(b, <-tokens, csr)
		}
		t1 := time.Now()
		if first {
			s.sign(b, <-tokens, csr)
		} else {
			issue()
		}
		t2 := time.Now()
		own, peer := t1.Sub(t0), t2.Sub(t1)
		if !first {
			own, peer = peer, own
		}
		pushca.Add(int64(own))
		step.Add(int64(peer))
	})
	b.ReportMetric(float64(pushca.Load())/1e6/float64(b.N), "pushca-ms/op")
	b.ReportMetric(float64(step.Load())/1e6/float64(b.N), "step-ca-ms/op")
	b.ReportMetric(float64(step.Load())/float64(pushca.Load()), "step-ca/pushca")
}

// BenchmarkIssueDB compares whole issuances (modern family, CSR supplied,
// distinct hosts) on bbolt and on PostgreSQL (pgtest's server on loopback,
// which runs with fsync off: the figures leave out the server's disk, and
// include the advisory lock's connection and transaction per issuance).
func BenchmarkIssueDB(b *testing.B) {
	ctx := context.Background()
	s := pgtest.Start(b)
	cas := map[string]*CA{"bbolt": newCA(b, "modern")}
	dir := initializedCopy(b, InitOptions{Families: []string{"modern"}, Password: testPassword})
	if _, err := Migrate(ctx, dir, s.CreateDB(b, "bench"), false); err != nil {
		b.Fatal(err)
	}
	pg, err := Open(ctx, dir, testPassword)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pg.Close() })
	cas["postgresql"] = pg
	f, _ := profile.GetFamily("modern")
	_, csr := benchCSR(b, f)
	var n atomic.Int64
	for _, db := range []string{"bbolt", "postgresql"} {
		for _, parallel := range []bool{false, true} {
			b.Run(db+map[bool]string{true: "/parallel"}[parallel], func(b *testing.B) {
				each(b, parallel, func() {
					if _, err := cas[db].Issue(ctx, IssueRequest{Host: fmt.Sprintf("h%d.example.com", n.Add(1)), CSR: csr}); err != nil {
						b.Error(err)
					}
				})
			})
		}
	}
}

// benchCSR is a key of family f and a request for it, which every
// issuance of a benchmark reuses.
func benchCSR(b *testing.B, f profile.Family) (crypto.Signer, *x509.CertificateRequest) {
	b.Helper()
	key, err := generateKey(f)
	if err != nil {
		b.Fatal(err)
	}
	csr, err := x509util.CreateCertificateRequest("bench", nil, key)
	if err != nil {
		b.Fatal(err)
	}
	return key, csr
}
