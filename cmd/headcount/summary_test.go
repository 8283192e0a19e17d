package main

import (
	"os"
	"path/filepath"
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
