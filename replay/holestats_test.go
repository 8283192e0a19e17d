package replay

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRun_HourStatsAroundAHole: the live-session statistics cover what the
// logs cover. A hole in the logs (longer than Config.Hole without a line)
// and the time after the last line are not metered: no sampled time and no
// session time there, as for an agent that was not running, so that an
// hour's average is over its metered part only and is not diluted by the
// hole's time as if nobody had been there. A session that starts after the
// hole is live from its first request on, not since the last sample before
// the hole.
func TestRun_HourStatsAroundAHole(t *testing.T) {
	res := runLines(t, Config{}, []string{
		// One session from 09:00; its last line, 09:10, is the last before
		// a hole of four hours and twenty minutes.
		ncsa("192.0.2.1", "07/Nov/2026:09:00:00 +0000", "/", "UA", "-"),
		ncsa("192.0.2.1", "07/Nov/2026:09:10:00 +0000", "/", "UA", "-"),
		// Another from 13:30 to the logs' end at 13:50.
		ncsa("192.0.2.3", "07/Nov/2026:13:30:00 +0000", "/", "UA", "-"),
		ncsa("192.0.2.3", "07/Nov/2026:13:40:00 +0000", "/", "UA", "-"),
		ncsa("192.0.2.3", "07/Nov/2026:13:50:00 +0000", "/", "UA", "-"),
	})
	type minutes struct{ sampled, live float64 }
	got := map[int]minutes{}
	for _, h := range res.Flush.Hours {
		m := float64(time.Minute / time.Millisecond)
		got[h.Hour.Hour()] = minutes{float64(h.SampledMillis) / m, float64(h.LiveMillis) / m}
	}
	// The table samples once a minute: the first minute of a covered span
	// may be missing.
	for hour, want := range map[int]float64{9: 10, 13: 20} {
		if m := got[hour]; m.sampled < want-1.01 || m.sampled > want || m.live != m.sampled {
			t.Errorf("%02dh: %.1f minutes sampled with %.1f session-minutes; want %.0f (-1) of each: one session live all the covered time", hour, m.sampled, m.live, want)
		}
	}
	for hour := range got {
		if hour != 9 && hour != 13 {
			t.Errorf("%02dh has statistics (%+v): it is in the hole", hour, got[hour])
		}
	}
	if len(res.Flush.Coverage) != 2 {
		t.Errorf("coverage %v, want two spans around the hole", res.Flush.Coverage)
	}
}

// TestRun_HourStatsResumedAfterAHole: a resumed run whose first line after
// it starts reading follows a hole samples the hour statistics from that
// line on, as one run over all the logs samples them from the hole's end:
// the time before it is not metered, read from the file's start (the lines
// before ReadFrom ignored) or from the earlier run's offset. It was sampled
// with nothing live from ReadFrom on (10h: an hour sampled, average 0.5,
// for one run's half hour with one session live, average 1), or lost its
// first minute.
func TestRun_HourStatsResumedAfterAHole(t *testing.T) {
	at := func(ip, hm string) string { return ncsa(ip, "24/Nov/2026:"+hm+":00 +0000", "/", "UA", "-") }
	early := []string{at("192.0.2.1", "00:00"), at("192.0.2.1", "00:10")}
	// A hole from 00:10 to 10:30: the resumed run starts reading at 05:25.
	first := []string{at("192.0.2.2", "10:30"), at("192.0.2.2", "10:40"), at("192.0.2.2", "10:47")}
	later := []string{at("192.0.2.3", "11:00"), at("192.0.2.3", "11:10"), at("192.0.2.3", "11:20"), at("192.0.2.3", "11:30")}
	all := append(append(append([]string{}, early...), first...), later...)

	hours := func(rs ...Result) string {
		var b strings.Builder
		for _, r := range rs {
			for _, h := range r.Flush.Hours {
				fmt.Fprintf(&b, "%s sampled %v live %v peak %d\n", h.Hour.Format("15h"),
					time.Duration(h.SampledMillis)*time.Millisecond, time.Duration(h.LiveMillis)*time.Millisecond, h.Peak)
			}
		}
		return b.String()
	}
	one := runLines(t, Config{}, all)
	earlier := runLines(t, Config{Settle: true}, append(append([]string{}, early...), first...))
	resumed := Config{Resume: earlier.Settled, ResumeOpen: earlier.SettledOpen}
	for name, lines := range map[string][]string{"from the file's start": all, "from the offset": append(append([]string{}, first...), later...)} {
		if got, want := hours(earlier, runLines(t, resumed, lines)), hours(one); got != want {
			t.Errorf("resumed, reading %s: hour statistics\n%swant those of one run\n%s", name, got, want)
		}
	}
}

// TestRun_WindowsOfAQuietSpan: a session completed in a 10-minute window
// without a line, between two lines less than Config.Hole apart, counts in
// that window: it is covered, and the agent counts there. Only those
// completed in a hole or after the last line count in the last metered
// window. The session of 09:42 (over at 10:12, between the lines of 10:09
// and 10:22) counted in the window of 10:00.
func TestRun_WindowsOfAQuietSpan(t *testing.T) {
	at := func(ip, hm string) string { return ncsa(ip, "24/Nov/2026:"+hm+":00 +0000", "/", "UA", "-") }
	res := runLines(t, Config{}, []string{
		at("192.0.2.1", "09:42"), at("192.0.2.2", "09:55"),
		at("192.0.2.3", "10:09"), at("192.0.2.3", "10:22"), at("192.0.2.3", "10:35"),
	})
	var got []string
	for _, w := range res.Flush.Windows {
		got = append(got, fmt.Sprintf("%s:%d", w.Start.Format("15:04"), w.Sessions))
	}
	// 09:42 ends at 10:12, 09:55 at 10:25, and the session of 10:09 to
	// 10:35 after the last line, at 11:05.
	if got, want := strings.Join(got, " "), "10:10:1 10:20:1 10:30:1"; got != want {
		t.Errorf("windows %s, want %s", got, want)
	}
	if len(res.Flush.Coverage) != 1 {
		t.Errorf("coverage %v, want one span", res.Flush.Coverage)
	}
}
