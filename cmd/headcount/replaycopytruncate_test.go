package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A log rotated by copying it and truncating it in place (logrotate's
// copytruncate) keeps its identity; when it has grown past the size an
// earlier run recorded by the next run, the bytes at the recorded offset are
// not the lines that run read. The run reads such a file from its start:
// with a line every two minutes from a client of its own (a session each),
// a run before the rotation and one after it store the 690 sessions of each
// day, as one run over both files does.
func TestReplay_CopyTruncateGrownPastOffset(t *testing.T) {
	bin := headcountBinFast(t)
	dir := t.TempDir()
	day1, day2 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	lines := func(prefix string, day time.Time, path string) string {
		var b strings.Builder
		for i := 0; i < 690; i++ {
			at := day.Add(time.Duration(2*i) * time.Minute).Format("02/Jan/2006:15:04:05 -0700")
			b.WriteString(ncsaLine(fmt.Sprintf("%s.%d.%d", prefix, i/250, i%250+1), at, path) + "\n")
		}
		return b.String()
	}
	log, rotated, db := filepath.Join(dir, "access.log"), filepath.Join(dir, "access.log.1"), filepath.Join(dir, "replay.db")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"replay", "--db", db}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("replay %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if err := os.WriteFile(log, []byte(lines("10.1", day1, "/a")), 0o600); err != nil {
		t.Fatal(err)
	}
	run(log) // at 23:00, settled before the day's end
	before, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rotated, before, 0o600); err != nil { // copy
		t.Fatal(err)
	}
	// truncate in place, and the next day's lines (longer: the file grows past the recorded size)
	if err := os.WriteFile(log, []byte(lines("10.2", day2, "/a-longer-path")), 0o600); err != nil {
		t.Fatal(err)
	}
	out := run("--final", rotated, log)
	want := "day,sessions,bot_sessions\n2026-03-01,690,0\n2026-03-02,690,0\n"
	if got := storedCSV(t, db); got != want {
		t.Errorf("stored after a copytruncate:\n%s\nwant\n%s\nsummary: %s", got, want, out)
	}
	if strings.Contains(out, "skipped (first") {
		t.Errorf("the run after a copytruncate skipped lines: %s", out)
	}
}
