package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"testing"

	"go.step.sm/crypto/x509util"

	"github.com/pushca/pushca/profile"
)

// BenchmarkRSA2048Sign is the baseline of the issuance goal: one bare
// PKCS#1 v1.5 signature with a 2048-bit key, the floor of any issuance.
func BenchmarkRSA2048Sign(b *testing.B) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte("tbs"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssue measures whole issuances (sign, self-check, inventory,
// files) per profile, with a CSR supplied and with key generation.
func BenchmarkIssue(b *testing.B) {
	ctx := context.Background()
	for _, p := range profile.All() {
		c := newCA(b, p.Name)
		key, err := generateKey(p)
		if err != nil {
			b.Fatal(err)
		}
		csr, err := x509util.CreateCertificateRequest("bench", nil, key)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, mode := range []string{"csr", "keygen"} {
			b.Run(p.Name+"/"+mode, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					req := IssueRequest{Host: fmt.Sprintf("h%d.example.com", n)}
					n++
					if mode == "csr" {
						req.CSR = csr
					}
					if _, err := c.Issue(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
