package session

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkTable_Observe measures a request for one of 100,000 live sessions
// (the steady state: keys already known). Run with -cpu 1,2 to compare one and
// two goroutines.
func BenchmarkTable_Observe(b *testing.B) {
	const clients = 100000
	tab := MustNew(b, Config{}, t0)
	keys := make([]uint64, clients)
	for i := range keys {
		keys[i] = uint64(i+1) * 0x9E3779B97F4A7C15
		tab.Observe(keys[i], t0)
	}
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := seq.Add(1) * 7919
		now := t0
		for pb.Next() {
			i++
			if i&1023 == 0 {
				now = now.Add(time.Second)
			}
			tab.Observe(keys[i%clients], now)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
}

// BenchmarkTable_ObserveNew measures requests that each start a session, the
// table growing from empty.
func BenchmarkTable_ObserveNew(b *testing.B) {
	tab := MustNew(b, Config{}, t0)
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tab.Observe(seq.Add(1)*0x9E3779B97F4A7C15, t0)
		}
	})
}
