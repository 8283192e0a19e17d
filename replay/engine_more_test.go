package replay

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"headcount/agent/keying"
	"headcount/store"
)

func ncsa(ip, at, path, ua, xff string) string {
	return fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" 200 10 "-" "%s" "%s"`, ip, at, path, ua, xff)
}

func runLines(t *testing.T, cfg Config, files ...[]string) Result {
	t.Helper()
	var inputs []Input
	for i, lines := range files {
		inputs = append(inputs, Input{Name: fmt.Sprintf("f%d", i), R: strings.NewReader(strings.Join(lines, "\n") + "\n")})
	}
	if cfg.LogoutPath == nil {
		cfg.LogoutPath = regexp.MustCompile(`/logout$`)
	}
	res, err := Run(cfg, inputs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Replay keys as the agent does: with trusted proxies an outside client's
// X-Forwarded-For is left out of its key, and exclusions by network,
// User-Agent and session key (the file's values as the agent receives them,
// escaped as the log writes them)
// leave requests unmetered.
func TestRun_Keying(t *testing.T) {
	lines := []string{
		ncsa("198.51.100.7", "01/Aug/2026:10:00:00 +0000", "/", "UA", "203.0.113.1"),
		ncsa("198.51.100.7", "01/Aug/2026:10:01:00 +0000", "/", "UA", "203.0.113.2"),
		ncsa("198.51.100.7", "01/Aug/2026:10:02:00 +0000", "/", "UA", "-"),
		ncsa("10.0.0.9", "01/Aug/2026:10:03:00 +0000", "/", "probe/1.0", "-"),
		ncsa("192.0.2.5", "01/Aug/2026:10:04:00 +0000", "/", "Internal \\\"x\\\"", "-"),
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte(`192.0.2.5 "Internal \"x\"" "-"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		cfg      keying.Config
		sessions uint64
		excluded uint64
	}{
		{"every client trusted", keying.Config{}, 5, 0},
		{"trusted proxies", keying.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, 3, 0},
		{"exclusions", keying.Config{ExcludeIP: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			ExcludeUA: []*regexp.Regexp{regexp.MustCompile(`^probe/`)}, ExcludeKeyFile: keyFile}, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := keying.New(tc.cfg)
			if _, _, err := k.LoadExclusions(); err != nil {
				t.Fatal(err)
			}
			res := runLines(t, Config{Keyer: k}, lines)
			if res.Sessions() != tc.sessions || res.Excluded != tc.excluded {
				t.Errorf("%d sessions, %d excluded; want %d, %d", res.Sessions(), res.Excluded, tc.sessions, tc.excluded)
			}
		})
	}
}

// Files are merged by time whatever their order on the command line; a line
// older than the reorder window is counted late; a stretch longer than the
// hole without a line in any file is left out of the coverage; logouts end
// sessions and are counted on their own day; the completed sessions are
// split by reason, hour and window consistently with the days.
func TestRun_MergeCoverageLate(t *testing.T) {
	day2 := []string{
		ncsa("192.0.2.1", "02/Aug/2026:08:00:00 +0000", "/", "UA", "-"),
		ncsa("192.0.2.1", "02/Aug/2026:08:10:00 +0000", "/logout", "UA", "-"),
		ncsa("192.0.2.2", "02/Aug/2026:08:22:00 +0000", "/", "UA", "-"),
		ncsa("192.0.2.3", "02/Aug/2026:08:12:00 +0000", "/", "UA", "-"), // 10 min older than the newest
	}
	day1 := []string{
		ncsa("192.0.2.1", "01/Aug/2026:23:55:00 +0000", "/", "UA", "-"),
		ncsa("192.0.2.1", "02/Aug/2026:02:10:00 +0200", "/", "UA", "-"), // 00:10 UTC
	}
	res := runLines(t, Config{}, day2, day1)
	if res.Late != 1 {
		t.Errorf("late = %d, want 1", res.Late)
	}
	want := []store.DayCount{
		{Day: time.Date(2026, 8, 2, 0, 0, 0, 0, time.UTC), Sessions: 4, Unclassified: 4},
	}
	if fmt.Sprint(res.Flush.Days) != fmt.Sprint(want) {
		t.Errorf("days %v, want %v", res.Flush.Days, want)
	}
	if res.Flush.Completed["logout"] != 1 || res.Flush.Completed["idle"] != 3 {
		t.Errorf("completed %v, want 1 logout and 3 idle", res.Flush.Completed)
	}
	var hours, windows uint64
	for _, h := range res.Flush.HourSessions {
		hours += h.Sessions
	}
	for _, w := range res.Flush.Windows {
		windows += w.Sessions
	}
	if hours != 4 || windows != 4 || res.Flush.Started != 4 {
		t.Errorf("hours %d, windows %d, started %d; want 4 each", hours, windows, res.Flush.Started)
	}
	wantCov := []store.Interval{
		{Start: time.Date(2026, 8, 1, 23, 55, 0, 0, time.UTC), End: time.Date(2026, 8, 2, 0, 10, 1, 0, time.UTC)},
		{Start: time.Date(2026, 8, 2, 8, 0, 0, 0, time.UTC), End: time.Date(2026, 8, 2, 8, 22, 1, 0, time.UTC)},
	}
	if fmt.Sprint(res.Flush.Coverage) != fmt.Sprint(wantCov) {
		t.Errorf("coverage %v, want %v", res.Flush.Coverage, wantCov)
	}
	// Sessions count in the 10-minute window in which the sweep of the
	// log's clock completed them when it is metered; those completed in a
	// hole or after the last line, in the last metered window before
	// (00:10 for the session of 00:10, over at 00:40 in the hole; 08:20 for
	// those of 08:12 and 08:22, over at 08:42 and 08:52 after the last
	// line), so that the metered windows hold every session.
	var windowList []string
	for _, w := range res.Flush.Windows {
		windowList = append(windowList, fmt.Sprintf("%s:%d", w.Start.Format("02T15:04"), w.Sessions))
	}
	if got := strings.Join(windowList, " "); got != "02T00:10:1 02T08:10:1 02T08:20:2" {
		t.Errorf("windows %s, want 02T00:10:1 02T08:10:1 02T08:20:2", got)
	}
	// The live-session statistics keep the hours the coverage meets only.
	var hourList []string
	for _, h := range res.Flush.Hours {
		hourList = append(hourList, h.Hour.Format("02T15"))
	}
	if got := strings.Join(hourList, " "); got != "01T23 02T00 02T08" {
		t.Errorf("hour statistics for %s, want 01T23 02T00 02T08", got)
	}
}

// A line older than the first line by more than the table's clock reaches
// back (late by about a day) is counted late and not applied: it would be
// counted on the wrong day.
func TestRun_LineTooOld(t *testing.T) {
	res := runLines(t, Config{}, []string{
		ncsa("192.0.2.1", "03/Aug/2026:10:00:00 +0000", "/", "UA", "-"),
		ncsa("192.0.2.2", "01/Aug/2026:10:00:00 +0000", "/", "UA", "-"),
	})
	if res.Late != 1 || res.Sessions() != 1 || len(res.Flush.Days) != 1 || res.Flush.Days[0].Day.Day() != 3 {
		t.Errorf("late %d, days %v; want 1 late and 1 session on 3 August", res.Late, res.Flush.Days)
	}
}
