package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"headcount/replay/replaytest"
	"headcount/store"
)

// continuousRE finds the number of sessions a resumed run reports as maybe
// split differently from one run.
var continuousRE = regexp.MustCompile(`; (\d+) sessions? of clients active without a pause since before `)

// appendLines appends to path the lines written from from to until.
func appendLines(t *testing.T, path string, lines []replaytest.Line, from, until time.Time) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if !l.At.Before(from) && l.At.Before(until) {
			if _, err := f.WriteString(l.Text + "\n"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// dailyCuts returns the UTC midnights after start and before the last
// request, then an hour after the last request: the times the daily runs
// of the incremental tests run at.
func dailyCuts(start time.Time, pop *replaytest.Population) []time.Time {
	var cuts []time.Time
	for d := start.Truncate(24 * time.Hour).Add(24 * time.Hour); d.Before(pop.Last); d = d.Add(24 * time.Hour) {
		cuts = append(cuts, d)
	}
	return append(cuts, pop.Last.Add(time.Hour))
}

// Through the real binary, one replay over four days (--final) and a replay
// every midnight as the logs grow (each going on from where the previous one
// settled; the last with --final) store the same per-day counts and
// `headcount export` prints the same, byte for byte, in every format: with
// files that grow and with a file a day (every day's passed each night,
// those read before skipped by their identity). A population with clients
// active without a pause where the runs resume reading differs by at most
// the sessions the runs reported, and reports some. No address, User-Agent
// or X-Forwarded-For of the logs reaches a database or an output.
func TestReplay_IncrementalEquality(t *testing.T) {
	bin := headcountBinFast(t)
	start := time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)
	var quiet []replaytest.Span // around 18:25, where runs at midnight resume reading: see replay.ReadFrom
	for d := 0; d < 5; d++ {
		at := start.Truncate(24*time.Hour).AddDate(0, 0, d).Add(18*time.Hour + 20*time.Minute)
		quiet = append(quiet, replaytest.Span{Start: at, End: at.Add(40 * time.Minute)})
	}
	quietPop := replaytest.GenerateQuiet(3, 300, start, 4, quiet)
	busyPop := replaytest.Generate(1, 300, start, 4)
	type tc struct {
		name    string
		pop     *replaytest.Population
		format  string
		rotated bool
	}
	var cases []tc
	for _, format := range []string{"dx-ust", "ncsa", "haproxy"} {
		cases = append(cases, tc{"quiet/" + format + "/growing", quietPop, format, false}, tc{"quiet/" + format + "/rotated", quietPop, format, true})
	}
	cases = append(cases, tc{"continuous/ncsa/growing", busyPop, "ncsa", false})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			nodes := c.pop.Lines(c.format, 5)
			cuts := dailyCuts(start, c.pop)
			var outputs []string

			// One run over everything.
			var whole []string
			for n, lines := range nodes {
				path := filepath.Join(dir, fmt.Sprintf("whole-node%d.log", n+1))
				appendLines(t, path, lines, time.Time{}, cuts[len(cuts)-1])
				whole = append(whole, path)
			}
			oneDB := filepath.Join(dir, "one.db")
			code, stdout, stderr := runBinaryAt(t, bin, append([]string{"replay", "--final", "--db", oneDB}, whole...)...)
			outputs = append(outputs, stdout, stderr)
			if code != 0 {
				t.Fatalf("one run: exit %d, %s%s", code, stdout, stderr)
			}

			// A run every midnight.
			dailyDB := filepath.Join(dir, "daily.db")
			var files []string
			var reported uint64
			from := time.Time{}
			for i, cut := range cuts {
				for n, lines := range nodes {
					name := fmt.Sprintf("node%d.log", n+1)
					if c.rotated {
						name = fmt.Sprintf("node%d.log.%d", n+1, i+1)
					}
					path := filepath.Join(dir, name)
					appendLines(t, path, lines, from, cut)
					if c.rotated || i == 0 {
						files = append(files, path)
					}
				}
				from = cut
				args := []string{"replay", "--db", dailyDB}
				if i == len(cuts)-1 {
					args = append(args, "--final")
				}
				code, stdout, stderr := runBinaryAt(t, bin, append(args, files...)...)
				outputs = append(outputs, stdout, stderr)
				if code != 0 || stderr != "" {
					t.Fatalf("run %d: exit %d, %s%s", i+1, code, stdout, stderr)
				}
				t.Logf("run %d: %s", i+1, strings.TrimSpace(stdout))
				if i > 0 {
					m := continuousRE.FindStringSubmatch(stdout)
					if m == nil {
						t.Fatalf("run %d says nothing of clients active without a pause: %q", i+1, stdout)
					}
					n, _ := strconv.ParseUint(m[1], 10, 64)
					reported += n
				}
			}

			oneDays, dailyDays := storedCSV(t, oneDB), storedCSV(t, dailyDB)
			var exports [2]string
			for i, db := range []string{oneDB, dailyDB} {
				code, stdout, stderr := runBinaryAt(t, bin, "export", "--db", db, "--format", "json", "2026-02-01", "2026-04-01")
				if code != 0 {
					t.Fatalf("export: exit %d, %s", code, stderr)
				}
				exports[i] = stdout
				data, err := os.ReadFile(db)
				if err != nil {
					t.Fatal(err)
				}
				outputs = append(outputs, stdout, string(data))
			}
			for _, s := range c.pop.Secrets() {
				for _, o := range outputs {
					if strings.Contains(o, s) {
						t.Errorf("%q of the logs is in a database or an output", s)
					}
				}
			}
			if c.pop == quietPop {
				if reported != 0 {
					t.Errorf("the runs report %d sessions of clients active without a pause, want none", reported)
				}
				if oneDays != dailyDays {
					t.Errorf("days of one run\n%s\nof daily runs\n%s", oneDays, dailyDays)
				}
				if exports[0] != exports[1] {
					t.Errorf("export of one run\n%s\nof daily runs\n%s", exports[0], exports[1])
				}
				return
			}
			if reported == 0 {
				t.Fatal("the runs report no session of clients active without a pause: the case is not tested")
			}
			one, daily := csvDays(t, oneDays), csvDays(t, dailyDays)
			for day, n := range one {
				if d := n - daily[day]; d > int64(reported) || -d > int64(reported) {
					t.Errorf("%s: %d sessions from one run, %d from daily runs: more apart than the %d reported", day, n, daily[day], reported)
				}
			}
		})
	}
}

// csvDays returns a day,sessions,bot_sessions CSV's sessions by day.
func csvDays(t *testing.T, csv string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(csv), "\n")[1:] {
		f := strings.Split(line, ",")
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[f[0]] = n
	}
	return out
}

// exportJSON returns `headcount export --format json` of July 2026.
func exportJSON(t *testing.T, bin, db string) string {
	t.Helper()
	code, stdout, stderr := runBinaryAt(t, bin, "export", "--db", db, "--format", "json", "2026-07-01", "2026-08-01")
	if code != 0 {
		t.Fatalf("export of %s: exit %d, %s", db, code, stderr)
	}
	return stdout
}

// A day metered live is refused, naming it, and nothing is written;
// --replace-days replaces it with what the logs give, in one transaction:
// killed (kill -9, injected by strace) at any fdatasync or page write of the
// run, the database holds the old day or the new one, never a mix, and
// passes check. --since: a bad time and one before the database's settled
// point are refused with status 2; a later one is where the run starts. A
// file last modified before the run's reading start is skipped unread.
func TestReplay_SinceAndReplaceDays(t *testing.T) {
	bin := headcountBinFast(t)
	dir := t.TempDir()
	first := []string{
		ncsaLine("192.0.2.1", "02/Jul/2026:08:00:00 +0000", "/a"),
		ncsaLine("192.0.2.1", "02/Jul/2026:08:10:00 +0000", "/b"),
		ncsaLine("192.0.2.2", "02/Jul/2026:09:00:00 +0000", "/a"),
		ncsaLine("192.0.2.3", "02/Jul/2026:10:00:00 +0000", "/a"),
		ncsaLine("192.0.2.3", "02/Jul/2026:10:20:00 +0000", "/b"),
	}
	log := replayLog(t, dir, "access.log", append(first,
		ncsaLine("192.0.2.4", "03/Jul/2026:09:00:00 +0000", "/a"),
		ncsaLine("192.0.2.5", "03/Jul/2026:10:00:00 +0000", "/a"))...)

	// What the agent metered on 2 July.
	live := filepath.Join(dir, "live.db")
	db, err := store.Open(live, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush(store.Flush{Seq: 1, Now: time.Date(2026, 7, 2, 11, 0, 0, 0, time.UTC),
		Days:         []store.DayCount{{Day: time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC), Sessions: 7, Bots: 2}},
		HourSessions: []store.HourCount{{Hour: time.Date(2026, 7, 2, 9, 0, 0, 0, time.UTC), Sessions: 7, Bots: 2}},
		Windows:      []store.WindowCount{{Start: time.Date(2026, 7, 2, 9, 10, 0, 0, time.UTC), Sessions: 7, Bots: 2}},
		Hours:        []store.HourStat{{Hour: time.Date(2026, 7, 2, 9, 0, 0, 0, time.UTC), Peak: 5, LiveMillis: 7200000, SampledMillis: 3600000}},
		Coverage:     []store.Interval{{Start: time.Date(2026, 7, 2, 8, 30, 0, 0, time.UTC), End: time.Date(2026, 7, 2, 11, 0, 0, 0, time.UTC)}},
		Started:      7, Completed: map[string]uint64{"idle": 7}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	oldExport := exportJSON(t, bin, live)

	code, stdout, stderr := runBinaryAt(t, bin, "replay", "--final", "--db", live, log)
	wantErr := "headcount: " + live + " already has sessions or coverage that replay did not write for 1 day: 2026-07-02; nothing written. " +
		"Replay the logs of other days, into another database, or with --replace-days to replace those days\n"
	if code != 1 || stdout != "" || stderr != wantErr {
		t.Errorf("replay over a metered day: exit %d\nstdout %q\nstderr %q\nwant   %q", code, stdout, stderr, wantErr)
	}
	if after, _ := os.ReadFile(live); string(after) != string(before) {
		t.Error("the refused replay changed the database")
	}
	// A dry run says the run would be refused.
	code, _, stderr = runBinaryAt(t, bin, "replay", "--final", "--dry-run", "--db", live, log)
	wantNote := "; without --dry-run it would be refused: " + live + " already has sessions or coverage that replay did not write for 1 day: 2026-07-02; nothing written (--dry-run)\n"
	if code != 0 || !strings.HasSuffix(stderr, wantNote) {
		t.Errorf("dry run over a metered day: exit %d\nstderr %q\nwant it to end with %q", code, stderr, wantNote)
	}

	// What replacing gives: the export of the logs replayed alone.
	alone := filepath.Join(dir, "alone.db")
	if code, _, stderr := runBinaryAt(t, bin, "replay", "--final", "--db", alone, log); code != 0 {
		t.Fatalf("replay: exit %d, %s", code, stderr)
	}
	newExport := exportJSON(t, bin, alone)
	if newExport == oldExport {
		t.Fatal("the logs give what the agent metered: the replacement proves nothing")
	}

	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is needed (installed by .ci/run): %v", err)
	}
	kills := map[string]int{}
	for _, call := range []string{"fdatasync", "pwrite64"} {
		for n := 1; ; n++ {
			if n > 100 {
				t.Fatalf("%s: replay was still killed at call %d", call, n)
			}
			victim := filepath.Join(dir, fmt.Sprintf("victim-%s-%d.db", call, n))
			if err := os.WriteFile(victim, before, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace="+call,
				"-e", fmt.Sprintf("inject=%s:signal=SIGKILL:when=%d", call, n), bin, "replay", "--final", "--replace-days", "--db", victim, log)
			cmd.Env = processEnv("GOMAXPROCS=1")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if err == nil {
				if n == 1 {
					t.Fatalf("%s: replay was never killed: the test proves nothing", call)
				}
				if got := exportJSON(t, bin, victim); got != newExport {
					t.Errorf("%s: replay not killed, but the days are not replaced:\n%s", call, got)
				}
				break
			}
			if !errors.As(err, &exit) || !killed(exit) {
				t.Fatalf("%s %d: %v: %s", call, n, err, out)
			}
			switch got := exportJSON(t, bin, victim); got {
			case oldExport:
				kills["old"]++
			case newExport:
				kills["new"]++
			default:
				t.Errorf("killed at %s %d: the database holds neither the old days nor the new ones:\n%s", call, n, got)
			}
			if code, out, errOut := runBinaryAt(t, bin, "check", "--db", victim); code != 0 {
				t.Errorf("killed at %s %d: check: status %d\n%s%s", call, n, code, out, errOut)
			}
		}
	}
	t.Logf("kills that left the old days: %d, the new ones: %d", kills["old"], kills["new"])
	if kills["old"] == 0 {
		t.Error("no kill left the old days: the test did not kill the replay before its commit")
	}

	code, stdout, stderr = runBinaryAt(t, bin, "replay", "--final", "--replace-days", "--db", live, log)
	want := "replayed 7 lines of 1 file: 0 lines skipped, 0 lines late, 0 requests excluded; 5 sessions; 2 days replaced in " + live + " (existing)\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("--replace-days: exit %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}
	if got := exportJSON(t, bin, live); got != newExport {
		t.Errorf("after --replace-days the export is\n%s\nwant the logs' alone\n%s", got, newExport)
	}
	if code, out, errOut := runBinaryAt(t, bin, "check", "--db", live); code != 0 {
		t.Errorf("check after --replace-days: status %d\n%s%s", code, out, errOut)
	}

	// --since.
	part := replayLog(t, dir, "part.log", first...)
	steps := filepath.Join(dir, "steps.db")
	if code, _, stderr := runBinaryAt(t, bin, "replay", "--db", steps, part); code != 0 {
		t.Fatalf("replay: exit %d, %s", code, stderr)
	}
	// A dry run goes on from the database's settled point too, and says so on stderr.
	code, stdout, stderr = runBinaryAt(t, bin, "replay", "--dry-run", "--db", steps, log)
	wantOut := "day,sessions,bot_sessions\n2026-07-02,1,0\n2026-07-03,1,0\n"
	wantErr = "replayed 7 lines of 1 file: 0 lines skipped, 0 lines late, 0 requests excluded; 2 sessions; resumed from 2026-07-02T10:15:00Z; " +
		"0 sessions of clients active without a pause since before 2026-07-02T05:25:00Z may be split differently from one run over the whole period; " +
		"settled at 2026-07-03T09:55:00Z: sessions still live then wait for the next run (--final counts them); nothing written (--dry-run)\n"
	if code != 0 || stdout != wantOut || stderr != wantErr {
		t.Errorf("dry run: exit %d\nstdout %q\nwant   %q\nstderr %q\nwant   %q", code, stdout, wantOut, stderr, wantErr)
	}
	for _, tc := range []struct {
		since, want string
	}{
		{"yesterday", "headcount: --since \"yesterday\": want an RFC 3339 time such as 2026-03-01T06:00:00Z or a UTC day such as 2026-03-01\n"},
		{"2026-07-01", "headcount: --since 2026-07-01T00:00:00Z is before 2026-07-02T10:15:00Z, where the replays into " + steps +
			" settled: the sessions ending between were counted already and would count twice; nothing replayed. " +
			"Give a later --since, none to go on from there, or add --replace-days to count the days from --since's on anew\n"},
	} {
		code, stdout, stderr := runBinaryAt(t, bin, "replay", "--db", steps, "--since", tc.since, log)
		if code != 2 || stdout != "" || stderr != tc.want {
			t.Errorf("--since %s: exit %d\nstdout %q\nstderr %q\nwant   %q", tc.since, code, stdout, stderr, tc.want)
		}
	}
	old := replayLog(t, dir, "old.log", ncsaLine("192.0.2.9", "01/Jun/2026:10:00:00 +0000", "/a"))
	if err := os.Chtimes(old, time.Date(2026, 6, 1, 10, 0, 1, 0, time.UTC), time.Date(2026, 6, 1, 10, 0, 1, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runBinaryAt(t, bin, "replay", "--final", "--db", steps, "--since", "2026-07-03T00:00:00Z", old, log)
	want = "replayed 7 lines of 2 files: 0 lines skipped, 0 lines late, 0 requests excluded; 2 sessions; 1 day written into " + steps + " (existing); " +
		"resumed from 2026-07-03T00:00:00Z, 5 lines before 2026-07-02T19:25:00Z ignored, 1 file last modified before 2026-07-02T19:25:00Z skipped; " +
		"0 sessions of clients active without a pause since before 2026-07-02T19:25:00Z may be split differently from one run over the whole period\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("a later --since: exit %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}
	if got := storedCSV(t, steps); got != "day,sessions,bot_sessions\n2026-07-02,2,0\n2026-07-03,2,0\n" {
		t.Errorf("stored after a later --since:\n%s", got)
	}

	// --since before the settled point with --replace-days: the days from
	// --since's on are counted anew; a session ending after --since whose
	// last request came the day before leaves that day as stored.
	eve := replayLog(t, dir, "eve.log", append([]string{ncsaLine("192.0.2.8", "01/Jul/2026:23:50:00 +0000", "/a")}, first...)...)
	code, stdout, stderr = runBinaryAt(t, bin, "replay", "--final", "--replace-days", "--since", "2026-07-02T06:00:00Z", "--db", steps, eve, log)
	want = "replayed 13 lines of 2 files: 0 lines skipped, 0 lines late, 0 requests excluded; 5 sessions; 2 days replaced in " + steps + " (existing); " +
		"resumed from 2026-07-02T00:00:00Z; 0 sessions of clients active without a pause since before 2026-07-01T19:25:00Z may be split differently from one run over the whole period\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("--replace-days with an earlier --since: exit %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}
	if got := storedCSV(t, steps); got != "day,sessions,bot_sessions\n2026-07-02,3,0\n2026-07-03,2,0\n" {
		t.Errorf("stored after --replace-days:\n%s", got)
	}
	if code, out, errOut := runBinaryAt(t, bin, "check", "--db", steps); code != 0 {
		t.Errorf("check after --replace-days: status %d\n%s%s", code, out, errOut)
	}

	// --replace-days with logs that settle before the stored settled point
	// is refused, a dry run says so, and nothing changes: the days after it
	// would keep the earlier runs' counts, which the next run, going on
	// from the earlier point, would count again.
	refusal := "--replace-days: these logs settle at 2026-07-02T10:15:00Z, before 2026-07-03T11:00:00Z, where the replays into " + steps + " settled: " +
		"the days stored after it would stay as the earlier runs counted them, and the next run would count their sessions again or lose some; nothing written. " +
		"Give the logs up to 2026-07-03T11:00:00Z as well, or replay into another database"
	code, stdout, stderr = runBinaryAt(t, bin, "replay", "--replace-days", "--since", "2026-07-02T00:00:00Z", "--db", steps, part)
	if code != 2 || stdout != "" || stderr != "headcount: "+refusal+"\n" {
		t.Errorf("--replace-days short of the settled point: exit %d\nstdout %q\nstderr %q\nwant   %q", code, stdout, stderr, "headcount: "+refusal+"\n")
	}
	code, _, stderr = runBinaryAt(t, bin, "replay", "--dry-run", "--replace-days", "--since", "2026-07-02T00:00:00Z", "--db", steps, part)
	if code != 0 || !strings.Contains(stderr, "; without --dry-run it would be refused: "+refusal+"; nothing written (--dry-run)\n") {
		t.Errorf("dry run of --replace-days short of the settled point: exit %d\nstderr %q", code, stderr)
	}
	if got := storedCSV(t, steps); got != "day,sessions,bot_sessions\n2026-07-02,3,0\n2026-07-03,2,0\n" {
		t.Errorf("stored after the refused --replace-days:\n%s", got)
	}
}
