package session

import (
	"runtime"
	"runtime/debug"
	"slices"
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

// BenchmarkTable_Memory10M fills a table with 10 million live sessions and
// reports the heap in use per session after a GC, then lets every session
// expire and reports the heap still in use: the memory must come back.
func BenchmarkTable_Memory10M(b *testing.B) {
	const sessions = 10_000_000
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		tab := MustNew(b, Config{IdleTimeout: time.Minute}, t0)
		for k := uint64(1); k <= sessions; k++ {
			tab.Observe(k*0x9E3779B97F4A7C15, t0)
		}
		tab.Sweep(t0.Add(time.Second)) // what the agent's sweeper does every second
		full := heapInUse()
		b.ReportMetric(float64(full-before)/sessions, "B/session")
		if got := tab.Live(); got != sessions {
			b.Fatalf("live = %d, want %d", got, sessions)
		}
		tab.Sweep(t0.Add(2 * time.Minute)) // every session ends
		tab.Sweep(t0.Add(2*time.Minute + time.Second))
		debug.FreeOSMemory()
		after := heapInUse()
		b.ReportMetric(float64(full-before)/(1<<20), "MiB-live")
		b.ReportMetric(float64(after-before)/(1<<20), "MiB-after-expiry")
		runtime.KeepAlive(tab)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkTable_ObserveLatency measures each Observe's latency on one
// goroutine, 1 million live sessions, while another goroutine does nothing,
// sweeps without pause, or collects (the flush's part) without pause, and
// reports the 50th and 99th percentiles.
func BenchmarkTable_ObserveLatency(b *testing.B) {
	const sessions = 1_000_000
	for _, during := range []string{"nothing", "sweep", "collect"} {
		b.Run("during="+during, func(b *testing.B) {
			tab := MustNew(b, Config{}, t0)
			keys := make([]uint64, sessions)
			for i := range keys {
				keys[i] = uint64(i+1) * 0x9E3779B97F4A7C15
				tab.Observe(keys[i], t0)
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
					}
					switch during {
					case "sweep":
						tab.Sweep(t0.Add(time.Second))
					case "collect":
						tab.Collect()
					default:
						runtime.Gosched()
					}
				}
			}()
			lat := make([]time.Duration, b.N)
			now := t0.Add(time.Second)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				tab.Observe(keys[(i*7919)%sessions], now)
				lat[i] = time.Since(start)
			}
			b.StopTimer()
			close(stop)
			<-done
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds()), "p99.9-ns")
		})
	}
}
