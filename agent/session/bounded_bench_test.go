package session

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkTable_MemoryFull fills a table to MaxLive (1 million) and
// reports the heap in use per place, then floods it with as many new keys
// and reports how much the heap grew: nothing, since overflowed keys are
// not kept.
func BenchmarkTable_MemoryFull(b *testing.B) {
	const places = 1_000_000
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		tab := MustNew(b, Config{IdleTimeout: time.Hour, MaxLive: places}, t0)
		for k := uint64(1); k <= places; k++ {
			tab.Observe(mixKey(k), t0)
		}
		tab.Sweep(t0.Add(time.Second))
		full := heapInUse()
		for k := uint64(places + 1); k <= 2*places; k++ {
			tab.Observe(mixKey(k), t0.Add(time.Second))
		}
		tab.Sweep(t0.Add(2 * time.Second))
		flooded := heapInUse()
		if s := tab.Stats(); s.Live != places || s.Completed[ReasonOverflow] != places {
			b.Fatalf("live %d, overflow %d; want %d each", s.Live, s.Completed[ReasonOverflow], places)
		}
		b.ReportMetric(float64(full-before)/places, "B/session")
		b.ReportMetric((float64(flooded)-float64(full))/(1<<20), "MiB-flood-growth")
		runtime.KeepAlive(tab)
	}
}

// BenchmarkTable_ObserveOverflow measures a request with a new key when the
// table is full (100,000 sessions, MaxLive): it is counted as an overflow
// session. Compare with BenchmarkTable_ObserveNew, a request that starts a
// session.
func BenchmarkTable_ObserveOverflow(b *testing.B) {
	const places = 100_000
	tab := MustNew(b, Config{MaxLive: places}, t0)
	for k := uint64(1); k <= places; k++ {
		tab.Observe(mixKey(k), t0)
	}
	var seq atomic.Uint64
	seq.Store(places)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tab.Observe(mixKey(seq.Add(1)), t0)
		}
	})
	b.StopTimer()
	if s := tab.Stats(); s.Live != places || s.Completed[ReasonOverflow] != uint64(b.N) {
		b.Fatalf("live %d, overflow %d; want %d and %d", s.Live, s.Completed[ReasonOverflow], places, b.N)
	}
}
