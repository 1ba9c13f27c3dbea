package load

import (
	"slices"
	"time"
)

// Latency summarises samples: nearest-rank percentiles.
type Latency struct {
	Samples int           `json:"samples"`
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
	Max     time.Duration `json:"max_ns"`
}

func summarise(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := func(p int) time.Duration {
		i := (len(s)*p + 99) / 100 // ceil(n·p/100), 1-based
		return s[max(i, 1)-1]
	}
	return Latency{Samples: len(s), P50: rank(50), P99: rank(99), Max: s[len(s)-1]}
}
