package session

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTable_CountersNeverImpossible hammers one key with requests, logouts
// and sweeps from several goroutines while readers check every Live and
// Stats they see: live is never negative, nothing is completed that was not
// started, and started = completed + live; the hour peak is never above the
// sessions started.
func TestTable_CountersNeverImpossible(t *testing.T) {
	tab := MustNew(t, Config{Shards: 1, IdleTimeout: 20 * time.Millisecond}, t0)
	var ms atomic.Int64
	clock := func() time.Time { return t0.Add(time.Duration(ms.Add(1)) * time.Millisecond) }
	stop := make(chan struct{})
	var bad atomic.Value
	var writers, readers sync.WaitGroup
	for w := 0; w < 3; w++ {
		writers.Add(1)
		go func(w int) {
			defer writers.Done()
			for i := 0; i < 200000; i++ {
				switch {
				case i%3 == w%3:
					tab.Logout(7, clock())
				case i%97 == 0:
					tab.Sweep(clock())
				default:
					tab.Observe(7, clock())
				}
			}
		}(w)
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if l := tab.Live(); l < 0 {
				bad.Store("Live() = " + itoa(l))
				return
			}
			s := tab.Stats()
			var completed uint64
			for _, c := range s.Completed {
				completed += c
			}
			if s.Live < 0 || completed > s.Started || s.Started-completed != uint64(s.Live) {
				bad.Store("Stats() live " + itoa(s.Live) + " started " + itoa(int64(s.Started)) + " completed " + itoa(int64(completed)))
				return
			}
		}
	}()
	writers.Wait()
	close(stop)
	readers.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal("impossible state observed: ", v)
	}
	d := tab.Collect()
	for _, h := range d.Hours {
		if h.Peak > d.Started {
			t.Fatalf("hour peak %d above the %d sessions started", h.Peak, d.Started)
		}
	}
}

// TestTable_SampleNeverWrapsNegative: a sample taken while the live counter
// reads below zero records a peak of 0, not 2^64-1.
func TestTable_SampleNeverWrapsNegative(t *testing.T) {
	tab := MustNew(t, Config{Shards: 2}, t0)
	forceNegativeLive(tab)
	if l := tab.Live(); l < 0 {
		t.Fatalf("Live() = %d", l)
	}
	tab.Sweep(t0.Add(time.Minute))
	for _, h := range tab.Collect().Hours {
		if h.Peak != 0 {
			t.Fatalf("peak = %d after a sample with no session started, want 0", h.Peak)
		}
	}
}

func itoa(n int64) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// forceNegativeLive puts a shard in the state a reader sees when a logout
// has completed a session whose starter has not yet counted its start.
func forceNegativeLive(t *Table) {
	t.shards[0].completed[ReasonLogout][ClassHuman].Add(1)
}
