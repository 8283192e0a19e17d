package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"headcount/agent/keying"
	"headcount/agent/session"
	"headcount/internal/botclass"
	"headcount/replay/replaytest"
	"headcount/store"
)

// incrementalConfig is the configuration of the incremental tests' runs.
func incrementalConfig(format Format) Config {
	bots := botclass.New(botclass.Config{MatchesPerSecond: 1 << 30})
	// One shard: the table sweeps every minute of four days in each of the
	// runs, and the sessions of 300 clients fit.
	return Config{Format: format, Keyer: keying.New(keying.Config{Bots: bots}), LogoutPath: regexp.MustCompile(`/logout$`),
		Session: session.Config{Shards: 1}}
}

// storeFlushes writes the flushes into a new database and returns its
// snapshot of every part, as JSON.
func storeFlushes(t *testing.T, path string, flushes ...store.Flush) []byte {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, f := range flushes {
		f.Seq, f.Now = uint64(i+1), time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
		if aside, err := db.Flush(f); err != nil || len(aside) > 0 {
			t.Fatalf("flush %d: %v, set aside %v", i+1, err, aside)
		}
	}
	snap, err := db.Snapshot(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), store.Parts{Hours: true, Windows: true})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.MarshalIndent(snap, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// joined returns a node's lines written before until, as a file's bytes.
func joined(lines []replaytest.Line, until time.Time) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		if l.At.Before(until) {
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// dailyCuts returns the times of a population's daily runs: each UTC
// midnight after its first line, and an hour after its last line.
func dailyCuts(pop *replaytest.Population) []time.Time {
	var cuts []time.Time
	for d := pop.First.Truncate(24 * time.Hour).Add(24 * time.Hour); d.Before(pop.Last); d = d.Add(24 * time.Hour) {
		cuts = append(cuts, d)
	}
	return append(cuts, pop.Last.Add(time.Hour))
}

// wholeInputs returns the two nodes' logs up to the last cut, as one run
// reads them.
func wholeInputs(nodes [2][]replaytest.Line, cuts []time.Time) []Input {
	end := cuts[len(cuts)-1]
	return []Input{{Name: "node1", R: bytes.NewReader(joined(nodes[0], end))}, {Name: "node2", R: bytes.NewReader(joined(nodes[1], end))}}
}

// stepRuns replays the nodes' logs as they grow, one run each time the
// clock passes a cut (each resumed from the previous one's settled point and
// reading from its offsets), the last one with every line and without
// Settle, each with base's configuration, and returns the runs' results.
func stepRuns(t *testing.T, base Config, nodes [2][]replaytest.Line, cuts []time.Time) []Result {
	t.Helper()
	return resumedRuns(t, base, len(nodes), func(n int, cut time.Time) []byte { return joined(nodes[n], cut) }, cuts)
}

// resumedRuns replays logs as they grow: logAt gives log n's bytes written
// before a cut. One run each time the clock passes a cut, each resumed from
// the previous one's settled point and reading on from its offsets, the
// last one without Settle.
func resumedRuns(t *testing.T, base Config, logs int, logAt func(n int, cut time.Time) []byte, cuts []time.Time) []Result {
	t.Helper()
	var results []Result
	var prev *Result
	for i, cut := range cuts {
		cfg := base
		cfg.Settle = i < len(cuts)-1
		var inputs []Input
		for n := range logs {
			data := logAt(n, cut)
			var off int64
			var line uint64
			if prev != nil {
				cfg.Resume, cfg.ResumeOpen = prev.Settled, prev.SettledOpen
				off, line = prev.Offsets[n], prev.OffsetLines[n]
			}
			inputs = append(inputs, Input{Name: fmt.Sprintf("node%d", n+1), R: bytes.NewReader(data[off:]), Offset: off, Line: line})
		}
		res, err := Run(cfg, inputs)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
		prev = &results[len(results)-1]
	}
	return results
}

// One run over several days and daily runs over the growing logs (each
// resumed from the previous one's settled point, reading on from its
// offsets, the last one final) store the same days, hours, hour statistics,
// windows and coverage, in every format, when no client was active without
// a pause across a resume; otherwise each day differs by at most the
// clients the resumed runs reported.
func TestRun_IncrementalEquality(t *testing.T) {
	start := time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)
	// Runs at each midnight settle a few minutes before it and resume
	// reading at 18:25 (23:00 less the maximum session, the idle timeout
	// and 5 minutes): a population quiet around then has no client whose
	// session may be split differently.
	var quiet []replaytest.Span
	for d := 1; d <= 5; d++ {
		at := start.Truncate(24*time.Hour).AddDate(0, 0, d-1).Add(18*time.Hour + 20*time.Minute)
		quiet = append(quiet, replaytest.Span{Start: at, End: at.Add(40 * time.Minute)})
	}
	for _, tc := range []struct {
		name  string
		pop   *replaytest.Population
		exact bool
	}{
		{"quiet", replaytest.GenerateQuiet(3, 300, start, 4, quiet), true},
		{"continuous", replaytest.Generate(1, 300, start, 4), false},
	} {
		for _, format := range []Format{FormatDXUST, FormatNCSA, FormatHAProxy} {
			t.Run(tc.name+"/"+format.String(), func(t *testing.T) {
				pop := tc.pop
				nodes := pop.Lines(format.String(), 2)
				cuts := dailyCuts(pop)
				cfg := incrementalConfig(format)
				one, err := Run(cfg, wholeInputs(nodes, cuts))
				if err != nil {
					t.Fatal(err)
				}
				steps := stepRuns(t, cfg, nodes, cuts)
				var continuous uint64
				var flushes []store.Flush
				for i, r := range steps {
					t.Logf("run %d: settled %s open %s, %d lines, %d ignored, %d sessions, %d continuous, offsets %v",
						i+1, r.Settled.Format(time.RFC3339Nano), r.SettledOpen.Format(time.RFC3339), r.Lines, r.Ignored, r.Sessions(), r.Continuous, r.Offsets)
					continuous += r.Continuous
					flushes = append(flushes, r.Flush)
				}
				dir := t.TempDir()
				whole := storeFlushes(t, filepath.Join(dir, "one.db"), one.Flush)
				daily := storeFlushes(t, filepath.Join(dir, "daily.db"), flushes...)
				if tc.exact != (continuous == 0) {
					t.Fatalf("%d clients reported active without a pause across a resume, want them %s", continuous, map[bool]string{true: "none", false: "some"}[tc.exact])
				}
				if continuous == 0 {
					if !bytes.Equal(whole, daily) {
						t.Errorf("one run stored\n%s\ndaily runs\n%s", whole, daily)
					}
					return
				}
				wantDays := map[string]uint64{}
				for _, d := range one.Flush.Days {
					wantDays[d.Day.Format("2006-01-02")] = d.Sessions
				}
				gotDays := map[string]uint64{}
				for _, r := range steps {
					for _, d := range r.Flush.Days {
						gotDays[d.Day.Format("2006-01-02")] += d.Sessions
					}
				}
				for day, want := range wantDays {
					diff := int64(gotDays[day]) - int64(want)
					if diff > int64(continuous) || -diff > int64(continuous) {
						t.Errorf("%s: %d sessions in daily runs, %d in one run: more apart than the %d clients reported", day, gotDays[day], want, continuous)
					}
				}
			})
		}
	}
}

// A resumed run reports the clients whose first line after it started
// reading came within the idle timeout of that start and whose session then
// ran into the maximum or ended after the resume point: one active every ten
// minutes since before (its maximum-session cut falls elsewhere than in one
// run), not one that began after a pause, nor one whose session ended idle
// before the resume point.
func TestRun_ContinuousReported(t *testing.T) {
	resume := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) // reading starts at 07:25
	var lines []string
	at := func(ip string, tm time.Time) {
		lines = append(lines, ncsa(ip, tm.Format("02/Jan/2006:15:04:05 -0700"), "/", "Mozilla/5.0", "-"))
	}
	for tm := resume.Add(-7 * time.Hour); tm.Before(resume.Add(time.Hour)); tm = tm.Add(10 * time.Minute) {
		at("192.0.2.1", tm) // 05:00 to 12:50, every ten minutes
	}
	at("192.0.2.2", resume.Add(-4*time.Hour)) // 08:00, after a pause: its own session either way
	at("192.0.2.3", resume.Add(-4*time.Hour-30*time.Minute))
	at("192.0.2.3", resume.Add(-4*time.Hour-20*time.Minute)) // 07:30 and 07:40: ended idle at 08:10
	sort.Slice(lines, func(i, j int) bool {
		return lines[i][strings.Index(lines[i], "[")+1:] < lines[j][strings.Index(lines[j], "[")+1:]
	})
	res := runLines(t, Config{Resume: resume}, lines)
	if res.Continuous != 1 {
		t.Errorf("Continuous = %d, want 1 (192.0.2.1)", res.Continuous)
	}
	if res.Ignored != 15 {
		t.Errorf("Ignored = %d, want the 15 lines of 192.0.2.1 before 07:25", res.Ignored)
	}
	if got := dayCSV(res); got != "day,sessions,bot_sessions\n2026-05-01,1,0\n" {
		t.Errorf("days\n%s\nwant only 192.0.2.1's session after its cut at 11:30 (its session from 07:30 ended before the resume point)", got)
	}
}
