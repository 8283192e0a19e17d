package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
)

// A run going on from where the replays into a database settled with other
// session rules would end elsewhere the sessions they ended: a client seen at
// 10:00 and 10:40, counted as two sessions by a run with a 30-minute idle
// timeout, is one session under an hour's, ending after the settled point,
// and would count again. Refused with status 2, naming the rules, and nothing
// is written; with the same rules the run goes on.
func TestReplay_ResumeRefusesOtherSessionRules(t *testing.T) {
	bin := headcountBinFast(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "replay.db")
	first := replayLog(t, dir, "first.log",
		ncsaLine("10.0.0.1", "01/Mar/2026:10:00:00 +0000", "/"),
		ncsaLine("10.0.0.1", "01/Mar/2026:10:40:00 +0000", "/"),
		ncsaLine("10.0.0.2", "01/Mar/2026:11:20:00 +0000", "/"))
	if out, err := exec.Command(bin, "replay", "--db", db, first).CombinedOutput(); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	before := storedCSV(t, db)
	if want := "day,sessions,bot_sessions\n2026-03-01,2,0\n"; before != want {
		t.Fatalf("first run stored\n%s\nwant\n%s", before, want)
	}
	second := replayLog(t, dir, "second.log", ncsaLine("10.0.0.3", "01/Mar/2026:12:00:00 +0000", "/"))
	out, err := exec.Command(bin, "replay", "--db", db, "--idle-timeout", "1h", "--final", first, second).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("replay with another idle timeout: %v, want exit status 2\n%s", err, out)
	}
	want := "headcount: --idle-timeout 1h0m0s and --max-session 4h0m0s are not the rules the replays into " + db +
		" counted with (30m0s and 4h0m0s): the sessions they ended would end elsewhere and count twice or not at all; " +
		"nothing replayed. Give the same rules, or add --replace-days to count the days from the start point's on anew\n"
	if string(out) != want {
		t.Errorf("replay with another idle timeout said\n%s\nwant\n%s", out, want)
	}
	if got := storedCSV(t, db); got != before {
		t.Errorf("refused run stored\n%s\nwant it as it was\n%s", got, before)
	}
	if out, err := exec.Command(bin, "replay", "--db", db, "--final", first, second).CombinedOutput(); err != nil {
		t.Fatalf("replay with the same rules: %v\n%s", err, out)
	}
	if got, want := storedCSV(t, db), "day,sessions,bot_sessions\n2026-03-01,4,0\n"; got != want {
		t.Errorf("stored\n%s\nwant\n%s", got, want)
	}
}
