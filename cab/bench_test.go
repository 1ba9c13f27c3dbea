package cab

import "testing"

// 100 KiB of sample data, half XML-like text, half noise: four blocks.
func benchFiles() []File { return []File{{Name: "bench.bin", Data: sample(100<<10, 7)}} }

func BenchmarkWrite(b *testing.B) {
	for _, c := range []Compression{None, MSZIP} {
		b.Run(c.String(), func(b *testing.B) {
			files := benchFiles()
			b.SetBytes(int64(len(files[0].Data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(files, Options{Compression: c}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	for _, c := range []Compression{None, MSZIP} {
		b.Run(c.String(), func(b *testing.B) {
			files := benchFiles()
			cab, err := Build(files, Options{Compression: c})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(files[0].Data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Read(cab); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(cab)), "cab-bytes")
		})
	}
}
