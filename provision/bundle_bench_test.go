package provision

import (
	"context"
	"testing"
)

// BenchmarkBundleWrite is one fresh bundle of 1,000 users on every device
// kind, with enrollment links (QR codes): the per-user cost behind
// scripts/bench-bundle.sh, which measures the whole command at 10,000.
func BenchmarkBundleWrite(b *testing.B) {
	bundle := testBundle(b)
	users := manyUsers(1000)
	for b.Loop() {
		if _, err := bundle.Write(context.Background(), b.TempDir(), users, nil); err != nil {
			b.Fatal(err)
		}
	}
}
