package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A line written to a log after a run read it, with a time before that run's
// settled point (a node whose clock is behind the others' by more than the
// reorder window, or a writer holding its lines that long), extends a
// session the run may already have counted: the next run counts it again,
// where one run over all the logs counts it once. Nothing without keys on
// disk can tell which session it was; the next run says how many such lines
// it read and what to do about them.
func TestReplay_LinesWrittenLateAreReported(t *testing.T) {
	bin := headcountBinFast(t)
	dir := t.TempDir()
	// Node a is behind: its client 10.0.0.1 is seen at 10:00 and 10:05.
	// Node b is ahead, a line every ten minutes until 10:41: the first run
	// settles at 10:36, after the session of 10.0.0.1 ended (10:35).
	a := replayLog(t, dir, "a.log",
		ncsaLine("10.0.0.1", "01/Mar/2026:10:00:00 +0000", "/"),
		ncsaLine("10.0.0.1", "01/Mar/2026:10:05:00 +0000", "/"))
	var bLines []string
	for m := 0; m <= 41; m += 10 {
		bLines = append(bLines, ncsaLine(fmt.Sprintf("10.0.1.%d", m), fmt.Sprintf("01/Mar/2026:10:%02d:00 +0000", m), "/"))
	}
	bLines = append(bLines, ncsaLine("10.0.1.99", "01/Mar/2026:10:41:00 +0000", "/"))
	b := replayLog(t, dir, "b.log", bLines...)
	db := filepath.Join(dir, "daily.db")
	if out, err := exec.Command(bin, "replay", "--db", db, a, b).CombinedOutput(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	// Then node a writes 10.0.0.1's request of 10:34, late; node b goes on.
	appendText(t, a, ncsaLine("10.0.0.1", "01/Mar/2026:10:34:00 +0000", "/"))
	appendText(t, b, ncsaLine("10.0.1.200", "01/Mar/2026:10:50:00 +0000", "/"))
	out, err := exec.Command(bin, "replay", "--db", db, "--final", a, b).CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	const note = "; 1 line written since the last run carry times before its settled point: a session they belong to may be counted twice (widen --reorder-window to cover the nodes' clock skew and their writers' delay)"
	if !strings.Contains(string(out), note) {
		t.Errorf("second run said\n%s\nwant it to say\n%s", out, note)
	}
	// One run over the same logs counts 10.0.0.1 once; the daily runs, as
	// the note says, twice.
	one := filepath.Join(dir, "one.db")
	if out, err := exec.Command(bin, "replay", "--db", one, "--final", a, b).CombinedOutput(); err != nil {
		t.Fatalf("one run: %v\n%s", err, out)
	}
	if got, want := storedCSV(t, one), "day,sessions,bot_sessions\n2026-03-01,8,0\n"; got != want {
		t.Errorf("one run stored\n%s\nwant\n%s", got, want)
	}
	if got, want := storedCSV(t, db), "day,sessions,bot_sessions\n2026-03-01,9,0\n"; got != want {
		t.Errorf("daily runs stored\n%s\nwant\n%s", got, want)
	}

	// Lines appended in time order are not late: no note.
	c := replayLog(t, dir, "c.log", bLines...)
	db2 := filepath.Join(dir, "ordered.db")
	if out, err := exec.Command(bin, "replay", "--db", db2, c).CombinedOutput(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	appendText(t, c, ncsaLine("10.0.1.200", "01/Mar/2026:10:50:00 +0000", "/"))
	out, err = exec.Command(bin, "replay", "--db", db2, "--final", c).CombinedOutput()
	if err != nil || strings.Contains(string(out), "written since the last run") {
		t.Errorf("second run over lines in order: %v\n%s", err, out)
	}
}

// appendText appends lines to the file at path.
func appendText(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		if _, err := f.WriteString(l); err != nil {
			t.Fatal(err)
		}
	}
}

// A gzipped file read again by the next run (hourly runs after a rotation
// that compressed yesterday's file) has no line written late: its recorded
// size is the compressed one, and the next run's offset in it, in the
// decompressed stream, is past that. Its lines before the settled point
// were all taken for lines written late (825 here).
func TestReplay_GzipReadAgainIsNotWrittenLate(t *testing.T) {
	bin := headcountBinFast(t)
	dir := t.TempDir()
	at := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	var old bytes.Buffer
	for ; at.Before(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)); at = at.Add(20 * time.Second) {
		old.WriteString(ncsaLine(fmt.Sprintf("10.0.%d.%d", at.Hour(), at.Minute()), at.Format("02/Jan/2006:15:04:05 -0700"), "/") + "\n")
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	if _, err := zw.Write(old.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(dir, "access.log.1.gz")
	if err := os.WriteFile(gz, zipped.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for ; at.Before(time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)); at = at.Add(time.Minute) {
		lines = append(lines, ncsaLine("10.1.0.1", at.Format("02/Jan/2006:15:04:05 -0700"), "/"))
	}
	live := replayLog(t, dir, "access.log", lines...)
	db := filepath.Join(dir, "hourly.db")
	if out, err := exec.Command(bin, "replay", "--db", db, live, gz).CombinedOutput(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	for ; at.Before(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)); at = at.Add(time.Minute) {
		appendText(t, live, ncsaLine("10.1.0.1", at.Format("02/Jan/2006:15:04:05 -0700"), "/"))
	}
	out, err := exec.Command(bin, "replay", "--db", db, live, gz).CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "; resumed from 2026-11-24T00:54:00Z") || strings.Contains(string(out), "written since the last run") {
		t.Errorf("second run, the gzipped file read again from its offset, said\n%s\nwant it resumed and no line written late", out)
	}
}
