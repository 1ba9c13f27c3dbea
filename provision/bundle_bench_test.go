//go:build unix

package provision

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBundleWrite is one fresh bundle of 1,000 users on every device
// kind, with enrollment links (QR codes): the per-user cost behind
// scripts/bench-bundle.sh, which measures the whole command at 10,000.
// Beside wall time it reports the process's user and system CPU time per
// bundle: on a shared machine those say more than wall time, and system
// time is mostly the file system's (creating 5,000 inodes).
func BenchmarkBundleWrite(b *testing.B) {
	bundle := testBundle(b)
	users := manyUsers(1000)
	user, sys := cpuTimes(b)
	for b.Loop() {
		if _, err := bundle.Write(context.Background(), b.TempDir(), users, nil); err != nil {
			b.Fatal(err)
		}
	}
	user2, sys2 := cpuTimes(b)
	b.ReportMetric(float64((user2-user).Milliseconds())/float64(b.N), "user-ms/op")
	b.ReportMetric(float64((sys2-sys).Milliseconds())/float64(b.N), "sys-ms/op")
}

func cpuTimes(b *testing.B) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
