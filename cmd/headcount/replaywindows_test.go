package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The signed metrics file of a replayed database holds every session the
// report counts: a session that ends in a hole of the logs or after their
// last line, where nothing is metered, counts in the last metered window
// before. They counted in the window the log's clock ended them in: the
// file listed windows nobody metered (here 01:30, 07:30 and 07:40), and a
// session ending after the file's last day was in none (2070 of 2095
// sessions of two days of logs).
func TestReplay_MetricsFileHoldsEverySession(t *testing.T) {
	bin := headcountBinFast(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "replay.db")
	log := replayLog(t, dir, "access.log",
		ncsaLine("10.0.0.1", "24/Nov/2026:01:00:00 +0000", "/"),
		ncsaLine("10.0.0.2", "24/Nov/2026:01:05:00 +0000", "/"),
		// A hole from 01:05 to 07:00: the sessions above end in it.
		ncsaLine("10.0.0.3", "24/Nov/2026:07:00:00 +0000", "/"),
		ncsaLine("10.0.0.4", "24/Nov/2026:07:10:00 +0000", "/"),
		// The last line: the sessions of 07:00 and 07:10 end after it.
	)
	if code, _, stderr := runBinaryAt(t, bin, "replay", "--final", "--db", db, log); code != 0 {
		t.Fatalf("replay: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runBinaryAt(t, bin, "keygen", filepath.Join(dir, "site")); code != 0 {
		t.Fatalf("keygen: exit %d, %s", code, stderr)
	}
	code, stdout, stderr := runBinaryAt(t, bin, "metrics-file", "--db", db, "--key", filepath.Join(dir, "site.key"),
		"--deployment", "test", "--output", "-", "2026-11-24", "2026-11-25")
	if code != 0 {
		t.Fatalf("metrics-file: exit %d, %s", code, stderr)
	}
	windows := map[string]int{}
	total := 0
	for _, line := range strings.Split(stdout, "\n") {
		f := strings.Split(line, ",")
		if len(f) != 5 || f[0] != "user-sessions" {
			continue
		}
		n, err := strconv.Atoi(f[3])
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		windows[f[1]] += n
		total += n
	}
	if total != 4 || windows["2026-11-24T01:00:00.000Z"] != 2 || windows["2026-11-24T07:10:00.000Z"] != 2 {
		t.Errorf("metrics file windows %v (%d sessions), want 2 in the window of 01:00 and 2 in that of 07:10:\n%s", windows, total, stdout)
	}
	if got, want := storedCSV(t, db), "day,sessions,bot_sessions\n2026-11-24,4,0\n"; got != want {
		t.Errorf("stored\n%s\nwant\n%s", got, want)
	}
}
