package session

import (
	"testing"
	"time"
)

// CountWithin keeps out of Collect the sessions that end (idle timeout,
// maximum, logout) at or before its first bound or after its second, and
// counts the others, whenever they are completed; Stats counts them all.
func TestTable_CountWithin(t *testing.T) {
	tab := MustNew(t, Config{IdleTimeout: 10 * time.Minute, MaxSession: time.Hour}, t0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tab.CountWithin(at(20*time.Minute), at(90*time.Minute))
	tab.Observe(10, at(0))              // idle end 10m: before the bounds
	tab.Observe(20, at(5*time.Minute))  // idle end 15m+: before
	tab.Observe(30, at(15*time.Minute)) // idle end 25m+: within
	tab.Observe(40, at(0))              // maximum at 60m: within
	tab.Logout(40, at(0))               // ended at once: before
	tab.Observe(50, at(0))              // a marathon cut by its maximum at 60m+: within
	for d := time.Duration(0); d <= 100*time.Minute; d += 5 * time.Minute {
		tab.Observe(50, at(d)) // the second session starts at 60m+ and is live at 100m
	}
	tab.Observe(60, at(75*time.Minute))
	tab.Logout(60, at(85*time.Minute))  // a logout at 85m: within
	tab.Observe(70, at(85*time.Minute)) // idle end 95m+: after
	tab.Sweep(at(105 * time.Minute))
	var got uint64
	for _, c := range tab.Collect().Completions {
		got += c.Sessions
	}
	if got != 3 {
		t.Errorf("Collect counted %d sessions, want 3 (keys 30, 50's first and 60)", got)
	}
	s := tab.Stats()
	var all uint64
	for _, n := range s.Completed {
		all += n
	}
	if all != 7 || s.Live != 1 {
		t.Errorf("Stats: %d completed, %d live; want 7 and 1 (key 50's second session)", all, s.Live)
	}
	tab.CountWithin(time.Time{}, time.Time{})
	tab.EndAll(at(106 * time.Minute))
	got = 0
	for _, c := range tab.Collect().Completions {
		got += c.Sessions
	}
	if got != 1 {
		t.Errorf("without bounds Collect counted %d sessions, want key 50's second", got)
	}
}
