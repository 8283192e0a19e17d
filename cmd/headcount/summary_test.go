package main

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"headcount/store"
)

// summaryDB writes report/summary_test.go's two-day case into a database
// file as the agent flushes it (hour statistics, coverage, sessions), then
// imports 2026-11-03 with the real binary, as an operator imports history:
// a metered day without hourly statistics. It returns the file's path.
func summaryDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "headcount.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const h = uint64(time.Hour / time.Millisecond)
	at := func(day string, hour int) time.Time {
		d, err := time.Parse(time.DateOnly, day)
		if err != nil {
			t.Fatal(err)
		}
		return d.Add(time.Duration(hour) * time.Hour)
	}
	f := store.Flush{
		Days: []store.DayCount{{Day: at("2026-11-01", 0), Sessions: 3}, {Day: at("2026-11-02", 0), Sessions: 4}},
		Hours: []store.HourStat{
			{Hour: at("2026-11-01", 9), Peak: 4, SampledMillis: h, LiveMillis: 2 * h},
			{Hour: at("2026-11-01", 10), Peak: 6, SampledMillis: h / 2, LiveMillis: 3 * h / 2},
			{Hour: at("2026-11-01", 11), Peak: 0, SampledMillis: h, LiveMillis: 0},
			{Hour: at("2026-11-02", 9), Peak: 2, SampledMillis: h, LiveMillis: h},
			{Hour: at("2026-11-02", 14), Peak: 10, SampledMillis: h, LiveMillis: 5 * h},
		},
		Coverage: []store.Interval{
			{Start: at("2026-11-01", 9), End: at("2026-11-01", 12)},
			{Start: at("2026-11-02", 9), End: at("2026-11-02", 15)},
		},
		Started: 20, Completed: map[string]uint64{"idle": 7}, Now: at("2026-11-02", 15), Seq: 1,
	}
	if _, err := db.Flush(f); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	history := filepath.Join(t.TempDir(), "history.csv")
	writeTestFile(t, history, "date,sessions\n2026-11-03,5\n")
	if code, out, errOut := runBinary(t, "import", "--db", path, "--environment", "PROD", history); code != 0 {
		t.Fatalf("import: status %d, stdout %q, stderr %q", code, out, errOut)
	}
	return path
}

// TestExport_Summary runs the real binary on a real database file: the
// summary CSV is report's hand-computed golden file, --by day and --by
// week; --summary gives the pretty, JSON and HTML forms of report's golden
// files; --format summary comes from a --config file and the environment
// too.
func TestExport_Summary(t *testing.T) {
	db := summaryDB(t)
	golden := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "report", "testdata", "summary", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"export", "--db", db, "--format", "summary", "--by", "day", "2026-11-01", "2026-11-05"}, "two-days-by-day.csv"},
		{[]string{"export", "--db", db, "2026-11-01", "2026-11-05", "--format", "summary", "--by", "week"}, "two-days-by-week.csv"},
		{[]string{"export", "--db", db, "--summary", "--by", "week", "2026-11-01", "2026-11-05"}, "two-days-by-week.csv"},
		{[]string{"export", "--db", db, "--summary", "--pretty", "--by", "week", "2026-11-01", "2026-11-05"}, "two-days-by-week.txt"},
		{[]string{"export", "--db", db, "--summary", "--format", "pretty", "--by", "day", "2026-11-01", "2026-11-05"}, "two-days-by-day.txt"},
		{[]string{"export", "--db", db, "--summary", "--format", "json", "2026-11-01", "2026-11-05"}, "two-days-by-month.json"},
		{[]string{"export", "--db", db, "--summary", "--format", "html", "--by", "week", "2026-11-01", "2026-11-05"}, "two-days-by-week.html"},
	} {
		code, out, errOut := runBinary(t, tc.args...)
		if want := golden(tc.golden); code != 0 || errOut != "" || out != want {
			t.Errorf("%v: status %d, stderr %q, output:\n%s\nwant report/testdata/summary/%s:\n%s", tc.args, code, errOut, out, tc.golden, want)
		}
	}

	cfg := filepath.Join(t.TempDir(), "headcount.yaml")
	writeTestFile(t, cfg, "db: "+db+"\nformat: summary\nby: day\n")
	code, out, errOut := runBinary(t, "export", "--config", cfg, "2026-11-01", "2026-11-05")
	if want := golden("two-days-by-day.csv"); code != 0 || errOut != "" || out != want {
		t.Errorf("export --config with format: summary: status %d, stderr %q, output:\n%s", code, errOut, out)
	}
	code, out, errOut = runBinaryEnv(t, []string{"HEADCOUNT_SUMMARY=true", "HEADCOUNT_BY=week"}, "export", "--db", db, "--pretty", "2026-11-01", "2026-11-05")
	if want := golden("two-days-by-week.txt"); code != 0 || errOut != "" || out != want {
		t.Errorf("HEADCOUNT_SUMMARY=true export --pretty: status %d, stderr %q, output:\n%s", code, errOut, out)
	}
}

// TestExport_SummaryBadInput: flags that cannot apply to the summary are
// refused with status 2, one line saying what to do, and nothing written.
func TestExport_SummaryBadInput(t *testing.T) {
	db := summaryDB(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{"--format", "sflm"}, "headcount: --format \"sflm\": want csv, pretty, json, html or summary\n"},
		{"pretty and format summary", []string{"--format", "summary", "--pretty"}, "headcount: --pretty and --format summary ask for two forms: give one (the summary as text is --summary --pretty)\n"},
		{"bots exclude", []string{"--summary", "--bots", "exclude"}, "headcount: --bots exclude and --bot-column do not apply to the summary: its live-session figures are not split into humans and bots (the hourly statistics carry no class); leave them out\n"},
		{"bot column", []string{"--format", "summary", "--bot-column"}, "headcount: --bots exclude and --bot-column do not apply to the summary: its live-session figures are not split into humans and bots (the hourly statistics carry no class); leave them out\n"},
		{"license", []string{"--format", "summary", "--license", "x.license"}, "headcount: --license does not apply to the summary: it shows no licence consumption; leave it out\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			output := filepath.Join(t.TempDir(), "summary.csv")
			args := append(append([]string{"export", "--db", db, "--output", output}, tc.args...), "2026-11-01", "2026-11-05")
			code, out, errOut := runCLI(t, args...)
			if code != 2 || out != "" || errOut != tc.want {
				t.Errorf("status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tc.want)
			}
			if _, err := os.Stat(output); !os.IsNotExist(err) {
				t.Errorf("--output %s was written (%v)", output, err)
			}
		})
	}
	// --bots include, the default, changes nothing in the summary: accepted.
	if code, out, errOut := runCLI(t, "export", "--db", db, "--summary", "--bots", "include", "2026-11-01", "2026-11-05"); code != 0 || errOut != "" || !strings.HasPrefix(out, "period,metered_hours,") {
		t.Errorf("--summary --bots include: status %d, stderr %q, stdout %.80q", code, errOut, out)
	}
}

// TestExport_SummaryAfterReplay meters live sessions for real: the binary
// replays an NCSA log of 2025-12-27 to 2026-01-04 (a week across New Year;
// nothing on 2025-12-31, busy from 08h to 18h on the other days), then
// exports the summary by day and by week and the report by day. Each day's
// summary agrees with the report's live figures (peak_live; average_live
// = session_hours / metered_hours); each period's hours and weekdays sum
// to its metered and session hours; the weeks hold their days; the week of
// 2025-12-28 holds 2026-01-01 to 2026-01-03; 2025-12-31 is not metered.
func TestExport_SummaryAfterReplay(t *testing.T) {
	dir := t.TempDir()
	var log strings.Builder
	first := time.Date(2025, 12, 27, 0, 0, 0, 0, time.UTC)
	for day := first; day.Before(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)); day = day.AddDate(0, 0, 1) {
		if day.Day() == 31 {
			continue
		}
		for m := 8 * 60; m < 18*60; m += 3 {
			at := day.Add(time.Duration(m) * time.Minute)
			// Up to 12 clients, more at midday and on weekdays, each
			// asking every few minutes while it is about.
			for c := 0; c < 12; c++ {
				if (m/3+c*7)%(2+c%5+int(day.Weekday())%3) != 0 || c > 4+(m/60-8)%6 {
					continue
				}
				fmt.Fprintf(&log, "10.0.%d.%d - - [%s] \"GET /page HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0 (X11; Linux x86_64) client-%d\"\n",
					day.YearDay()%7, c+1, at.Format("02/Jan/2006:15:04:05 -0700"), c)
			}
		}
	}
	path := filepath.Join(dir, "access.log")
	writeTestFile(t, path, log.String())
	db := filepath.Join(dir, "replay.db")
	if code, out, errOut := runBinary(t, "replay", "--db", db, "--format", "ncsa", path); code != 0 {
		t.Fatalf("replay: status %d, stdout %q, stderr %q", code, out, errOut)
	}
	export := func(args ...string) []map[string]string {
		t.Helper()
		code, out, errOut := runBinary(t, append(append([]string{"export", "--db", db}, args...), "2025-12-27", "2026-01-05")...)
		if code != 0 || errOut != "" {
			t.Fatalf("export %v: status %d, stderr %q", args, code, errOut)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var out2 []map[string]string
		for _, row := range rows[1:] {
			m := map[string]string{}
			for i, name := range rows[0] {
				m[name] = row[i]
			}
			out2 = append(out2, m)
		}
		return out2
	}
	num := func(s string) float64 {
		if s == "" {
			return 0
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	near := func(a, b, tolerance float64) bool { return math.Abs(a-b) <= tolerance }
	// sums checks that a row's hours (and weekdays) add up to its figures,
	// within the rounding of each cell to a thousandth.
	sums := func(row map[string]string, weekdays bool) {
		t.Helper()
		for _, fig := range []string{"metered_hours", "session_hours"} {
			var hours, days float64
			for h := range 24 {
				hours += num(row[fmt.Sprintf("%s_%02d", fig, h)])
			}
			for _, name := range []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"} {
				days += num(row[fig+"_"+name])
			}
			if !near(hours, num(row[fig]), 0.0125) || weekdays && !near(days, num(row[fig]), 0.004) {
				t.Errorf("%s: %s %s, over its hours %.3f, over its weekdays %.3f", row["period"], fig, row[fig], hours, days)
			}
		}
	}

	report := export("--by", "day")
	days := export("--format", "summary", "--by", "day")
	if len(days) != 9 || len(report) != 9 {
		t.Fatalf("%d summary days, %d report days, want 9", len(days), len(report))
	}
	metered := 0
	for i, d := range days {
		r := report[i]
		if d["period"] != r["day"] {
			t.Fatalf("row %d: summary %s, report %s", i, d["period"], r["day"])
		}
		if d["period"] == "2025-12-31" {
			if d["metered_hours"] != "" || d["peak_live"] != "" || d["unknown_days"] != "0" || r["sessions"] != "" {
				t.Errorf("2025-12-31, not metered: summary %s,%s unknown %s; report sessions %q", d["metered_hours"], d["peak_live"], d["unknown_days"], r["sessions"])
			}
			continue
		}
		metered++
		if d["peak_live"] != r["peak_live"] || num(d["metered_hours"]) < 9 || num(d["peak_live"]) < 3 {
			t.Errorf("%s: summary %s metered hours, peak %s; report peak %s", d["period"], d["metered_hours"], d["peak_live"], r["peak_live"])
		}
		if mean := num(d["session_hours"]) / num(d["metered_hours"]); !near(mean, num(r["average_live"]), 0.006) {
			t.Errorf("%s: session_hours / metered_hours = %.4f, the report's average_live %s", d["period"], mean, r["average_live"])
		}
		// The busiest 8 hours average at least the day's mean.
		if num(d["average_live_busiest"]) < num(r["average_live"])-0.005 {
			t.Errorf("%s: average over the busiest hours %s below the day's mean %s", d["period"], d["average_live_busiest"], r["average_live"])
		}
		if d["metered_hours_03"] != "" || d["metered_hours_Sunday"] != "" {
			t.Errorf("%s: a figure for 03h (%q) or for Sunday (%q)", d["period"], d["metered_hours_03"], d["metered_hours_Sunday"])
		}
		sums(d, false)
	}
	if metered != 8 {
		t.Errorf("%d metered days, want 8", metered)
	}

	weeks := export("--format", "summary", "--by", "week")
	if len(weeks) != 3 || weeks[0]["period"] != "2025-12-21" || weeks[1]["period"] != "2025-12-28" || weeks[2]["period"] != "2026-01-04" {
		t.Fatalf("%d weeks, want 2025-12-21 (its Saturday only), 2025-12-28 and 2026-01-04 (its Sunday only)", len(weeks))
	}
	for _, w := range weeks {
		sums(w, true)
	}
	// The week of 2025-12-28 holds 2025-12-28 to 2026-01-03; its Thursday is 2026-01-01.
	var session float64
	var peak string
	for _, d := range days[1:8] {
		session += num(d["session_hours"])
		if num(d["peak_live"]) > num(peak) {
			peak = d["peak_live"]
		}
	}
	if w := weeks[1]; !near(num(w["session_hours"]), session, 0.004) || w["peak_live"] != peak || w["session_hours_Thursday"] != days[5]["session_hours"] || w["metered_hours_Wednesday"] != "" {
		t.Errorf("week of 2025-12-28: session_hours %s (days: %.3f), peak %s (days: %s), Thursday %s (2026-01-01: %s), Wednesday %q",
			w["session_hours"], session, w["peak_live"], peak, w["session_hours_Thursday"], days[5]["session_hours"], w["metered_hours_Wednesday"])
	}
}
