//go:build soak

package agent

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"headcount/store"
)

// TestSoak runs the agent in-process at full rate for SOAK_DURATION (default
// 3m) with 100,000 clients cycling, and requires the heap and the goroutine
// count to stay flat after a warm-up; then it starts 10 million sessions,
// lets them all expire, and requires the memory to come back. Run it with
// make soak; it is not part of make test.
func TestSoak(t *testing.T) {
	duration := 3 * time.Minute
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		duration = d
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := runAgent(t, db, Config{IdleTimeout: 5 * time.Second, MaxSession: time.Hour, FlushInterval: time.Second, Production: true})
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	start := heap()

	lg := newLoadgen(100_000)
	deadline := time.Now().Add(duration)
	warmup := time.Now().Add(duration / 6)
	var baseline uint64
	var baseGoroutines int
	var sent int
	var peak uint64
	lastLog := time.Now()
	for time.Now().Before(deadline) {
		lg.run(t, a.spoe, 4, 500_000, 64)
		sent += 500_000
		h := heap()
		if baseline == 0 && time.Now().After(warmup) {
			baseline, baseGoroutines = h, runtime.NumGoroutine()
			continue
		}
		if baseline != 0 {
			peak = max(peak, h)
		}
		if baseline != 0 && time.Since(lastLog) >= 10*time.Second {
			lastLog = time.Now()
			t.Logf("%6.0fs: %d messages, heap in use %.1f MiB, %d goroutines", time.Since(deadline.Add(-duration)).Seconds(), sent, float64(h)/(1<<20), runtime.NumGoroutine())
		}
	}
	if baseline == 0 {
		t.Fatal("the soak ended before its warm-up")
	}
	growth := float64(peak) / float64(baseline)
	t.Logf("steady load: %d messages in %v (%.0f msgs/s); heap after warm-up %.1f MiB, highest %.1f MiB (%.2fx)",
		sent, duration, float64(sent)/duration.Seconds(), float64(baseline)/(1<<20), float64(peak)/(1<<20), growth)
	if growth > 1.25 {
		t.Errorf("the heap grew %.2fx after the warm-up", growth)
	}
	if g := runtime.NumGoroutine(); g > baseGoroutines+4 {
		t.Errorf("goroutines grew from %d to %d", baseGoroutines, g)
	}

	// 10 million live sessions, then all expiring.
	big := newLoadgen(10_000_000)
	began := time.Now()
	big.run(t, a.spoe, 4, 10_000_000, 256)
	full := heap()
	live := a.metric(t, "headcount_sessions_active")
	t.Logf("10,000,000 new clients in %v: %.0f live sessions, heap in use %.1f MiB (%.1f B per session)",
		time.Since(began).Round(time.Second), live, float64(full)/(1<<20), float64(full-baseline)/live)
	if live < 9_000_000 {
		t.Fatalf("only %.0f live sessions after 10,000,000 new clients (idle timeout 5 s)", live)
	}
	a.waitFor(t, time.Minute, func() bool { return a.metric(t, "headcount_sessions_active") == 0 }, "every session to expire")
	swept := a.sweeps.Load()
	a.waitUntil(t, func() bool { return a.sweeps.Load() >= swept+2 }, "two more sweeps, which shrink the emptied shards")
	debug.FreeOSMemory()
	after := heap()
	t.Logf("after they expired: heap in use %.1f MiB (start of the soak %.1f MiB)", float64(after)/(1<<20), float64(start)/(1<<20))
	if after > baseline+32<<20 {
		t.Errorf("%.1f MiB still in use after every session expired, %.1f MiB before", float64(after)/(1<<20), float64(baseline)/(1<<20))
	}
}
