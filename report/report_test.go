package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func d(s string) time.Time {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

// coveredDays returns coverage intervals covering exactly the days from..to
// inclusive, as an import does.
func coveredDays(from, to string) []Interval {
	var out []Interval
	for t := d(from); !t.After(d(to)); t = t.AddDate(0, 0, 1) {
		out = append(out, Interval{Start: t, End: t.AddDate(0, 0, 1)})
	}
	return out
}

// readHistory reads a `date,sessions` file into days and their coverage.
func readHistory(t *testing.T, path string) ([]DaySessions, []Interval) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var days []DaySessions
	var cov []Interval
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		date, n, _ := strings.Cut(sc.Text(), ",")
		v, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		days = append(days, DaySessions{Day: d(date), Sessions: v})
		cov = append(cov, Interval{d(date), d(date).AddDate(0, 0, 1)})
	}
	return days, cov
}

func render(t *testing.T, r Report, f Format) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, r, f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report/ -run Golden -update to create it)", err)
	}
	if got == string(want) {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		if i >= len(gl) || i >= len(wl) || gl[i] != wl[i] {
			g, w := "<end>", "<end>"
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			t.Errorf("%s differs from line %d:\ngot:  %s\nwant: %s\n(review, then -update)", path, i+1, g, w)
			return
		}
	}
}

// TestBuild_Seed reproduces the seed document's example from daily data
// consistent with its pretty form: the pretty form byte for byte, and the
// CSV with the October/November 2023 gap the seed's own CSV omits: every
// gap is printed in both forms.
func TestBuild_Seed(t *testing.T) {
	days, cov := readHistory(t, "testdata/seed/history.csv")
	r := Build(Input{From: d("2023-01-01"), To: d("2024-04-02"), By: Month, Environment: "UAT-ENV", Days: days, Coverage: cov})
	golden(t, "seed/expected.txt", render(t, r, Pretty))
	golden(t, "seed/expected.csv", render(t, r, CSV))
}

func TestBuild_Cases(t *testing.T) {
	cases := []struct {
		name     string
		from, to string
		by       Granularity
		days     []DaySessions
		coverage []Interval
	}{
		{
			name: "leap-february", from: "2024-02-01", to: "2024-03-01",
			days:     []DaySessions{{Day: d("2024-02-01"), Sessions: 10}, {Day: d("2024-02-27"), Sessions: 5}},
			coverage: coveredDays("2024-02-01", "2024-02-27"), // 28 and 29 uncovered
		},
		{
			name: "gap-across-year-end", from: "2023-12-01", to: "2024-02-01",
			days:     []DaySessions{{Day: d("2023-12-29"), Sessions: 7}, {Day: d("2024-01-03"), Sessions: 9}},
			coverage: append(coveredDays("2023-12-01", "2023-12-29"), coveredDays("2024-01-03", "2024-01-31")...),
		},
		{
			name: "range-starts-inside-a-gap", from: "2023-03-01", to: "2023-04-01",
			days:     []DaySessions{{Day: d("2023-03-10"), Sessions: 4}, {Day: d("2023-02-27"), Sessions: 1000}},
			coverage: append(coveredDays("2023-02-20", "2023-02-27"), coveredDays("2023-03-10", "2023-03-31")...), // the gap began before the range
		},
		{
			name: "range-ends-inside-a-gap", from: "2023-03-01", to: "2023-04-16",
			days:     []DaySessions{{Day: d("2023-03-15"), Sessions: 4}, {Day: d("2023-04-20"), Sessions: 1000}},
			coverage: append(coveredDays("2023-03-01", "2023-04-05"), coveredDays("2023-04-20", "2023-04-30")...),
		},
		{
			name: "month-wholly-inside-a-gap", from: "2023-05-01", to: "2023-08-01",
			days:     []DaySessions{{Day: d("2023-05-31"), Sessions: 3}, {Day: d("2023-07-01"), Sessions: 8}},
			coverage: append(coveredDays("2023-05-01", "2023-05-31"), coveredDays("2023-07-01", "2023-07-31")...),
		},
		{
			name: "single-day-covered", from: "2023-05-05", to: "2023-05-06",
			days:     []DaySessions{{Day: d("2023-05-05"), Sessions: 42}, {Day: d("2023-05-06"), Sessions: 1000}},
			coverage: coveredDays("2023-05-01", "2023-05-31"),
		},
		{
			name: "single-day-uncovered", from: "2023-05-05", to: "2023-05-06",
			coverage: coveredDays("2023-05-06", "2023-05-31"),
		},
		{
			name: "covered-but-quiet-month", from: "2023-06-01", to: "2023-08-01",
			days:     []DaySessions{{Day: d("2023-07-04"), Sessions: 5}},
			coverage: coveredDays("2023-06-01", "2023-07-31"),
		},
		{
			name: "weeks-across-a-year-boundary", from: "2023-12-27", to: "2024-01-10", by: Week,
			days:     []DaySessions{{Day: d("2023-12-27"), Sessions: 1}, {Day: d("2023-12-30"), Sessions: 2}, {Day: d("2023-12-31"), Sessions: 4}, {Day: d("2024-01-06"), Sessions: 8}, {Day: d("2024-01-07"), Sessions: 16}},
			coverage: append(coveredDays("2023-12-27", "2024-01-02"), coveredDays("2024-01-05", "2024-01-09")...),
		},
		{
			name: "years", from: "2022-06-01", to: "2024-03-01", by: Year,
			days:     []DaySessions{{Day: d("2022-06-01"), Sessions: 100}, {Day: d("2023-01-01"), Sessions: 200}, {Day: d("2024-02-29"), Sessions: 300}},
			coverage: []Interval{{d("2022-06-01"), d("2023-06-01")}, {d("2023-09-01").Add(13 * time.Hour), d("2024-03-05")}},
		},
		{
			name: "no-data-at-all", from: "2023-01-15", to: "2023-03-10",
		},
		{
			name: "days-with-detail", from: "2023-03-25", to: "2023-03-29", by: Day,
			days: []DaySessions{{Day: d("2023-03-25"), Sessions: 12}, {Day: d("2023-03-26"), Sessions: 30}},
			// Coverage from the agent: exact times, one interval crossing midnight.
			coverage: []Interval{
				{d("2023-03-25").Add(9*time.Hour + 30*time.Minute), d("2023-03-26").Add(2*time.Hour + 10*time.Minute)},
				{d("2023-03-27").Add(23 * time.Hour), d("2023-03-27").Add(23 * time.Hour)}, // a single contact
			},
		},
	}
	hours := []HourStat{
		{Hour: d("2023-03-25").Add(10 * time.Hour), Peak: 7, LiveMillis: 3600000 * 4, SampledMillis: 3600000},
		{Hour: d("2023-03-25").Add(11 * time.Hour), Peak: 9, LiveMillis: 1800000 * 6, SampledMillis: 1800000},
		{Hour: d("2023-03-26").Add(1 * time.Hour), Peak: 3, LiveMillis: 3600000 * 2, SampledMillis: 3600000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Build(Input{From: d(tc.from), To: d(tc.to), By: tc.by, Environment: "TEST", Days: tc.days, Hours: hours, Coverage: tc.coverage})
			golden(t, "cases/"+tc.name+".csv", render(t, r, CSV))
			golden(t, "cases/"+tc.name+".txt", render(t, r, Pretty))
			if tc.by == Day || tc.name == "years" {
				golden(t, "cases/"+tc.name+".json", render(t, r, JSON))
			}
		})
	}
}

// TestBuild_Invariants checks what must hold for any input: the total is the
// sum of the rows, gaps and covered days partition the range, and every gap
// is maximal.
func TestBuild_Invariants(t *testing.T) {
	days, cov := readHistory(t, "testdata/seed/history.csv")
	for _, by := range []Granularity{Month, Week, Day, Year} {
		for _, rng := range [][2]string{{"2023-01-01", "2024-04-02"}, {"2023-04-10", "2023-04-20"}, {"2022-12-25", "2024-06-01"}} {
			r := Build(Input{From: d(rng[0]), To: d(rng[1]), By: by, Days: days, Coverage: cov})
			var sum uint64
			covered := 0
			for _, p := range r.Periods {
				sum += p.Sessions
				covered += p.CoveredDays
			}
			gapDays := 0
			for i, g := range r.Gaps {
				gapDays += g.Days
				if i > 0 && !r.Gaps[i-1].Next.Before(g.First) {
					t.Errorf("%v %v: gaps %d and %d touch: not maximal", by, rng, i-1, i)
				}
			}
			n := int(d(rng[1]).Sub(d(rng[0])) / day)
			if sum != r.Total || covered+gapDays != n {
				t.Errorf("%v %v: rows sum %d, total %d; covered %d + gap days %d != %d days", by, rng, sum, r.Total, covered, gapDays, n)
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"month", "week", "day", "year"} {
		if g, err := ParseGranularity(s); err != nil || g.String() != s {
			t.Errorf("ParseGranularity(%q) = %v, %v", s, g, err)
		}
	}
	if _, err := ParseGranularity("hour"); err == nil || err.Error() != `--by "hour": want month, week, day or year` {
		t.Errorf("ParseGranularity(hour) error = %v", err)
	}
	if _, err := ParseFormat("xml"); err == nil || err.Error() != `--format "xml": want csv, pretty, json or html` {
		t.Errorf("ParseFormat(xml) error = %v", err)
	}
}

// TestJSONDay_MarshalJSON holds the hand-written encoder to encoding/json's
// output for the same value.
func TestJSONDay_MarshalJSON(t *testing.T) {
	type plain jsonDay // the same fields without the MarshalJSON method
	known := func(n uint64) nullUint { return nullUint{n, true} }
	days := []jsonDay{
		{Date: "2023-03-25", Sessions: known(12), Human: known(7), Bots: known(4), Unclassified: known(1), Covered: true, CoveredHours: known(15), PeakLive: known(9), AverageLive: nullFloat{4.67, true},
			Hours: []jsonHour{{10, 7, 4}, {11, 9, 6.5}, {23, 1234567, 0.01}}},
		{Date: "2023-03-28", CoveredHours: known(0), Hours: []jsonHour{}},                                                                                       // not metered
		{Date: "2023-03-29", Sessions: known(40), Human: known(0), Bots: known(0), Unclassified: known(40), Covered: true, Imported: true, Hours: []jsonHour{}}, // imported
	}
	for _, d := range days {
		got, _ := d.MarshalJSON()
		want, err := json.Marshal(plain(d))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("MarshalJSON:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}

// TestWritePretty_PeriodNames pins the period lines of the pretty form for
// each granularity: a month is named as the seed names it (2023-01); a week,
// a day and a year say which they are, so that a week's Sunday does not
// read as a day. The bot line names its period the same way.
func TestWritePretty_PeriodNames(t *testing.T) {
	days := []DaySessions{{Day: d("2026-11-29"), Sessions: 5, Bots: 2}}
	for _, tc := range []struct {
		by         Granularity
		from, to   string
		line, bots string
	}{
		{Month, "2026-11-01", "2026-12-01", "Session usage for 2026-11: 5", "Bot sessions for 2026-11: 2"},
		{Week, "2026-11-29", "2026-12-06", "Session usage for the week of 2026-11-29: 5", "Bot sessions for the week of 2026-11-29: 2"},
		{Day, "2026-11-29", "2026-11-30", "Session usage for the day 2026-11-29: 5", "Bot sessions for the day 2026-11-29: 2"},
		{Year, "2026-01-01", "2027-01-01", "Session usage for the year 2026: 5", "Bot sessions for the year 2026: 2"},
	} {
		t.Run(tc.by.String(), func(t *testing.T) {
			r := Build(Input{From: d(tc.from), To: d(tc.to), By: tc.by, Environment: "PROD", Days: days, Coverage: []Interval{{d(tc.from), d(tc.to)}}})
			lines := strings.Split(render(t, r, Pretty), "\n")
			if len(lines) < 6 || lines[5] != tc.line {
				t.Errorf("period line %q, want %q", lines[5:6], tc.line)
			}
			r.BotColumn = true
			lines = strings.Split(render(t, r, Pretty), "\n")
			if len(lines) < 7 || lines[5] != tc.line || lines[6] != tc.bots {
				t.Errorf("with --bot-column: %q, want %q and %q", lines[5:7], tc.line, tc.bots)
			}
		})
	}
}

// TestWriteJSON_UnknownFigures pins the days of the JSON form whose figures
// are unknown: a day not metered has null sessions (not 0) and no live
// figures; a day imported from another meter says so, and its covered hours
// and live sessions are null (not 24 and 0); a metered quiet day has 0.
func TestWriteJSON_UnknownFigures(t *testing.T) {
	r := Build(Input{
		From: d("2026-03-01"), To: d("2026-03-05"), By: Day, Environment: "PROD",
		Days:     []DaySessions{{Day: d("2026-03-01"), Sessions: 4, Bots: 1}, {Day: d("2026-03-03"), Sessions: 9, Unclassified: 9}},
		Hours:    []HourStat{{Hour: d("2026-03-01").Add(10 * time.Hour), Peak: 3, LiveMillis: 3600000 * 2, SampledMillis: 3600000}},
		Coverage: []Interval{{d("2026-03-01").Add(9 * time.Hour), d("2026-03-01").Add(12 * time.Hour)}, {d("2026-03-03"), d("2026-03-05")}},
		Imported: []time.Time{d("2026-03-03")},
	})
	want := []string{
		`{"date":"2026-03-01","sessions":4,"human_sessions":3,"bot_sessions":1,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":3,"peak_live":3,"average_live":2,"hours":[{"hour":10,"peak_live":3,"average_live":2}]}`,
		`{"date":"2026-03-02","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered":false,"imported":false,"covered_hours":0,"peak_live":null,"average_live":null,"hours":[]}`,
		`{"date":"2026-03-03","sessions":9,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":9,"covered":true,"imported":true,"covered_hours":null,"peak_live":null,"average_live":null,"hours":[]}`,
		`{"date":"2026-03-04","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]}`,
	}
	var doc struct{ Days []json.RawMessage }
	if err := json.Unmarshal([]byte(render(t, r, JSON)), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Days) != len(want) {
		t.Fatalf("%d days, want %d", len(doc.Days), len(want))
	}
	for i, w := range want {
		if got := string(doc.Days[i]); got != w {
			t.Errorf("day %d:\n%s\nwant:\n%s", i+1, got, w)
		}
	}
}
