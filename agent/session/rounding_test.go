package session

import (
	"testing"
	"time"
)

// TestTable_DayBoundaryExact: a session is counted on the UTC day of its last
// request to the nanosecond, whatever the table's start time and wall-clock
// offset within a tick.
func TestTable_DayBoundaryExact(t *testing.T) {
	midnight := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	for _, created := range []time.Duration{0, 3 * time.Millisecond, 7 * time.Millisecond, 9*time.Millisecond + 999*time.Microsecond} {
		for _, last := range []time.Duration{-time.Nanosecond, -5 * time.Millisecond, 0, time.Nanosecond, 3 * time.Millisecond, 9 * time.Millisecond} {
			tab := MustNew(t, Config{IdleTimeout: time.Minute}, t0.Add(created))
			tab.Observe(1, midnight.Add(last))
			tab.Sweep(midnight.Add(time.Hour))
			want := "2026-03-15 idle"
			if last < 0 {
				want = "2026-03-14 idle"
			}
			if got := counts(tab.Collect()); got[want] != 1 || len(got) != 1 {
				t.Errorf("table created at t0+%s, last request at midnight%+v: completions %v, want 1 %q", created, last, got, want)
			}
		}
	}
	// The same after SetWall with a wall clock off by a fraction of a tick.
	tab := MustNew(t, Config{IdleTimeout: time.Minute}, t0)
	tab.SetWall(t0, t0.Add(24*time.Hour+4*time.Millisecond)) // the wall clock is a day and 4 ms ahead
	tab.Observe(10, midnight.Add(-time.Millisecond))         // 00:00:00.003 on the 16th by the wall clock
	tab.Observe(20, midnight.Add(-5*time.Millisecond))       // 23:59:59.999 on the 15th
	tab.Sweep(midnight.Add(time.Hour))
	want := map[string]uint64{"2026-03-16 idle": 1, "2026-03-15 idle": 1}
	if got := counts(tab.Collect()); !equalCounts(got, want) {
		t.Errorf("after SetWall: completions %v, want %v", got, want)
	}
}

// TestTable_IdleNeverSplits: a gap shorter than the idle timeout never ends
// a session, whatever the times' offsets within a tick; a gap longer than the
// timeout by two ticks always does.
func TestTable_IdleNeverSplits(t *testing.T) {
	for _, idle := range []time.Duration{30 * time.Minute, 30*time.Minute + 5*time.Millisecond, time.Second + time.Nanosecond} {
		for _, created := range []time.Duration{0, 3 * time.Millisecond, 7 * time.Millisecond} {
			for _, off := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 9 * time.Millisecond} {
				first := t0.Add(time.Minute + off)
				for _, gap := range []time.Duration{idle - 5*time.Millisecond, idle - time.Nanosecond, idle + 2*Tick + time.Nanosecond} {
					tab := MustNew(t, Config{IdleTimeout: idle}, t0.Add(created))
					tab.Observe(1, first)
					want := gap > idle
					if got := tab.Observe(1, first.Add(gap)); got != want {
						t.Errorf("idle %s, table created at t0+%s, first request at t0+1m%s, gap %s: started=%v, want %v", idle, created, off, gap, got, want)
					}
					// The sweeper follows the same rule.
					tab = MustNew(t, Config{IdleTimeout: idle}, t0.Add(created))
					tab.Observe(1, first)
					if got := tab.Sweep(first.Add(gap)); got != map[bool]int{false: 0, true: 1}[want] {
						t.Errorf("idle %s, table created at t0+%s, first request at t0+1m%s, sweep after %s: swept %d", idle, created, off, gap, got)
					}
				}
			}
		}
	}
}

// TestTable_HourSamplesWithinHour: the time between two sweeps that straddle
// an hour boundary is split between the two hours, so no hour's samples
// cover more than the hour.
func TestTable_HourSamplesWithinHour(t *testing.T) {
	tab := MustNew(t, Config{IdleTimeout: 4 * time.Hour}, t0.Add(3*time.Millisecond))
	tab.Observe(10, t0) // one live session throughout
	h23 := t0.Add(time.Hour)
	for _, at := range []time.Time{
		h23.Add(-time.Second), h23.Add(time.Second), // 1 s in each hour
		h23.Add(time.Hour - 500*time.Millisecond), h23.Add(time.Hour + 500*time.Millisecond), // 0.5 s in each hour
	} {
		tab.Sweep(at)
	}
	want := map[int]uint64{22: 1000, 23: 3_600_000, 0: 500}
	d := tab.Collect()
	if len(d.Hours) != len(want) {
		t.Fatalf("hours %+v, want %d hours", d.Hours, len(want))
	}
	for _, h := range d.Hours {
		if h.SampledMillis != want[h.Hour.Hour()] || h.LiveMillis != want[h.Hour.Hour()] || h.Peak != 1 {
			t.Errorf("hour %s: sampled %d ms, live %d session-ms, peak %d; want sampled and live %d, peak 1", h.Hour.Format("15:04"), h.SampledMillis, h.LiveMillis, h.Peak, want[h.Hour.Hour()])
		}
	}
}
