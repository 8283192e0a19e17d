package replay

import (
	"testing"
	"time"
)

// TestRun_HourStatsAroundAHole: the live-session statistics charge the
// quiet time of a hole in the logs (nothing live) with no live session. A
// session that starts after the hole is live from its first request on,
// not since the last sample before the hole: the hour it starts in, and
// the hour the hole starts in, hold the session time the log shows.
func TestRun_HourStatsAroundAHole(t *testing.T) {
	res := runLines(t, Config{}, []string{
		// One session, 09:00 to 09:40 (its idle timeout, 30 minutes, after 09:10).
		ncsa("192.0.2.1", "07/Nov/2026:09:00:00 +0000", "/", "UA", "-"),
		ncsa("192.0.2.1", "07/Nov/2026:09:10:00 +0000", "/", "UA", "-"),
		// Another, 13:30 to 14:00, after four quiet hours.
		ncsa("192.0.2.3", "07/Nov/2026:13:30:00 +0000", "/", "UA", "-"),
	})
	minutes := map[int]float64{}
	for _, h := range res.Flush.Hours {
		minutes[h.Hour.Hour()] = float64(h.LiveMillis) / float64(time.Minute/time.Millisecond)
	}
	// The table samples once a minute: a session's time may be off by a
	// minute at either end.
	if m := minutes[9]; m < 38 || m > 41 {
		t.Errorf("09h: %.1f session-minutes, want the first session's 40 (±2)", m)
	}
	if m := minutes[13]; m < 28 || m > 31 {
		t.Errorf("13h: %.1f session-minutes, want the second session's 30 (±2)", m)
	}
}
