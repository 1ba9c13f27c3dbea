package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/smallstep/certificates/authority/provisioner"
	"go.step.sm/crypto/x509util"

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
	b.Run("serial", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			sign()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sign()
			}
		})
	})
}

// BenchmarkIssue measures whole issuances (sign, self-check, inventory,
// files) per chain family, with a CSR supplied and with key generation, one
// at a time and from concurrent callers (each a distinct host).
func BenchmarkIssue(b *testing.B) {
	ctx := context.Background()
	for _, p := range profile.Families() {
		c := newCA(b, p.Name)
		key, err := generateKey(p)
		if err != nil {
			b.Fatal(err)
		}
		csr, err := x509util.CreateCertificateRequest("bench", nil, key)
		if err != nil {
			b.Fatal(err)
		}
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
		for _, mode := range []string{"csr", "keygen"} {
			b.Run(p.Name+"/"+mode, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					issue(b, mode)
				}
			})
			b.Run(p.Name+"/"+mode+"/parallel", func(b *testing.B) {
				b.SetParallelism(benchParallelism)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						issue(b, mode)
					}
				})
			})
		}
	}
}

// BenchmarkStepCASign is the peer of BenchmarkIssue/*/csr: step-ca's own
// authority, started from the family's config/ca*.json as `step-ca` starts
// it (its bbolt database with its default durability: one fsync'd
// transaction per write), doing what one request to its /1.0/sign does
// minus HTTP: authorize a JWK token (which records the token as used) and
// sign with the provisioner's options, the family's template included.
// Tokens are made before the timer starts; clients make them.
func BenchmarkStepCASign(b *testing.B) {
	for _, f := range profile.Families() {
		c := newCA(b, f.Name)
		dir, s := c.layout.Dir, c.Slots()[0]
		c.Close()
		key, err := generateKey(f)
		if err != nil {
			b.Fatal(err)
		}
		p := startStepPeer(b, dir, s)
		sign := func(b *testing.B, ott string) {
			host := "bench.example.com"
			csr, err := x509util.CreateCertificateRequest(host, []string{host}, key)
			if err != nil {
				b.Fatal(err)
			}
			ctx := provisioner.NewContextWithMethod(context.Background(), provisioner.SignMethod)
			opts, err := p.a.Authorize(ctx, ott)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.a.SignWithContext(ctx, csr, provisioner.SignOptions{}, opts...); err != nil {
				b.Fatal(err)
			}
		}
		tokens := func(b *testing.B) chan string {
			b.StopTimer()
			defer b.StartTimer()
			ch := make(chan string, b.N)
			for range b.N {
				ch <- jwkToken(b, p.key, p.audience, "bench.example.com", "bench.example.com")
			}
			close(ch)
			return ch
		}
		b.Run(f.Name, func(b *testing.B) {
			for ott := range tokens(b) {
				sign(b, ott)
			}
		})
		b.Run(f.Name+"/parallel", func(b *testing.B) {
			ch := tokens(b)
			b.SetParallelism(benchParallelism)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					sign(b, <-ch)
				}
			})
		})
		p.stop()
	}
}
