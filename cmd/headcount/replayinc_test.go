package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"headcount/replay/replaytest"
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
