package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func hour(day string, h int) time.Time { return d(day).Add(time.Duration(h) * time.Hour) }

// twoDaysInput is the hand-computed case of the summary's golden files,
// 2026-11-01 (a Sunday) to 2026-11-05:
//
//	2026-11-01  09h peak 4, sampled 1 h, live 2 h (average 2.0)
//	            10h peak 6, sampled 0.5 h, live 1.5 h (average 3.0)
//	            11h peak 0, sampled 1 h, live 0 (metered and quiet: average 0.0)
//	            coverage 09:00-12:00
//	2026-11-02  09h peak 2, sampled 1 h, live 1 h (average 1.0)
//	            14h peak 10, sampled 1 h, live 5 h (average 5.0)
//	            coverage 09:00-15:00: 10h to 13h covered without statistics, left out
//	2026-11-03  covered all day, no statistics (imported): unknown
//	2026-11-04  not covered
//
// By day: 11-01 has 2.5 metered hours, peak 6, busiest (2+3+0)/3 = 1.67,
// 3.5 session-hours; 11-02 2.0, 10, (1+5)/2 = 3.00, 6.0. By week: 4.5
// metered hours, peak 10, busiest (1.67+3)/2 = 2.33 (the mean of the two
// days' figures, fewer than 5), 9.5 session-hours; hour 09: 2 metered
// hours, peak 4, busiest (2+1)/2 = 1.50, 3 session-hours.
func twoDaysInput(by Granularity) Input {
	const h = uint64(time.Hour / time.Millisecond)
	return Input{From: d("2026-11-01"), To: d("2026-11-05"), By: by, Environment: "PROD",
		Hours: []HourStat{
			{Hour: hour("2026-11-01", 9), Peak: 4, SampledMillis: h, LiveMillis: 2 * h},
			{Hour: hour("2026-11-01", 10), Peak: 6, SampledMillis: h / 2, LiveMillis: 3 * h / 2},
			{Hour: hour("2026-11-01", 11), Peak: 0, SampledMillis: h, LiveMillis: 0},
			{Hour: hour("2026-11-02", 9), Peak: 2, SampledMillis: h, LiveMillis: h},
			{Hour: hour("2026-11-02", 14), Peak: 10, SampledMillis: h, LiveMillis: 5 * h},
		},
		Coverage: []Interval{
			{Start: hour("2026-11-01", 9), End: hour("2026-11-01", 12)},
			{Start: hour("2026-11-02", 9), End: hour("2026-11-02", 15)},
			{Start: d("2026-11-03"), End: d("2026-11-04")},
		},
	}
}

func renderSummary(t *testing.T, s Summary, f Format) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSummary(&b, s, f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestWriteSummaryCSV_HandComputed compares the two-day case with CSV files
// whose figures were computed by hand (twoDaysInput's comment), not
// generated: -update does not rewrite them.
func TestWriteSummaryCSV_HandComputed(t *testing.T) {
	for _, tc := range []struct {
		by   Granularity
		file string
	}{{Day, "two-days-by-day.csv"}, {Week, "two-days-by-week.csv"}} {
		got := renderSummary(t, BuildSummary(twoDaysInput(tc.by)), CSV)
		want, err := os.ReadFile(filepath.Join("testdata", "summary", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("--by %s: got\n%s\nwant (testdata/summary/%s)\n%s", tc.by, got, tc.file, want)
		}
	}
}

// TestWriteSummary_Golden pins the pretty, JSON and HTML forms of the
// two-day case (by day and by week) and of a month with it.
func TestWriteSummary_Golden(t *testing.T) {
	for _, by := range []Granularity{Day, Week, Month} {
		s := BuildSummary(twoDaysInput(by))
		for _, f := range []struct {
			format Format
			ext    string
		}{{Pretty, "txt"}, {JSON, "json"}, {HTML, "html"}} {
			golden(t, "summary/two-days-by-"+by.String()+"."+f.ext, renderSummary(t, s, f.format))
		}
	}
}

// TestSummaryHeader: the columns are the issue's, in its order.
func TestSummaryHeader(t *testing.T) {
	h := SummaryHeader()
	if len(h) != 5+24*4+7*4+1 {
		t.Fatalf("%d columns", len(h))
	}
	want := "period,metered_hours,peak_live,average_live_busiest,session_hours,metered_hours_00,peak_live_00,average_live_00,session_hours_00,metered_hours_01"
	if got := strings.Join(h[:10], ","); got != want {
		t.Errorf("first columns %s, want %s", got, want)
	}
	if got := strings.Join(h[5+23*4:5+24*4+4], ","); got != "metered_hours_23,peak_live_23,average_live_23,session_hours_23,metered_hours_Sunday,peak_live_Sunday,average_live_Sunday,session_hours_Sunday" {
		t.Errorf("hour 23 and Sunday: %s", got)
	}
	if got := strings.Join(h[len(h)-5:], ","); got != "metered_hours_Saturday,peak_live_Saturday,average_live_Saturday,session_hours_Saturday,unknown_days" {
		t.Errorf("last columns %s", got)
	}
}

// TestBuildSummary_Busiest: a day's figure is the mean of its 8 busiest
// hours, a week's the mean of its 5 busiest days, a month's the mean of its
// weeks (cut to the month); an hour of day's, the mean of its 5 busiest
// days per week; a weekday's, the mean of those days' figures.
func TestBuildSummary_Busiest(t *testing.T) {
	const h = uint64(time.Hour / time.Millisecond)
	var hours []HourStat
	// 2026-11-01 (Sunday) to 2026-11-07: day k (0..6) has 10 hours, hour j
	// with average (k+1)*(j+1): its busiest 8 are j = 2..9, mean (k+1)*6.5.
	for k := range 7 {
		for j := range 10 {
			hours = append(hours, HourStat{Hour: d("2026-11-01").AddDate(0, 0, k).Add(time.Duration(j) * time.Hour), Peak: 1,
				SampledMillis: h, LiveMillis: uint64((k+1)*(j+1)) * h})
		}
	}
	// 2026-11-30 (Monday), alone in its week within November: average 2 in hour 0.
	hours = append(hours, HourStat{Hour: d("2026-11-30"), Peak: 2, SampledMillis: h, LiveMillis: 2 * h})
	in := Input{From: d("2026-11-01"), To: d("2026-12-01"), Hours: hours}

	in.By = Day
	s := BuildSummary(in)
	if p := s.Periods[2]; !p.All.Averaged || p.All.Busiest != 3*6.5 {
		t.Errorf("2026-11-03: busiest %v (%v), want the mean of its 8 busiest hours, 19.5", p.All.Busiest, p.All.Averaged)
	}
	in.By = Week
	s = BuildSummary(in)
	// Days' figures 6.5, 13, …, 45.5: the 5 busiest are days 3..7, mean 5*6.5 = 32.5.
	if p := s.Periods[0]; p.All.Busiest != 32.5 {
		t.Errorf("week of 2026-11-01: busiest %v, want 32.5", p.All.Busiest)
	}
	// Hour 09: averages 10, 20, …, 70: the 5 busiest are 30..70, mean 50.
	if p := s.Periods[0]; p.Hours[9].Busiest != 50 {
		t.Errorf("week of 2026-11-01, hour 09: busiest %v, want 50", p.Hours[9].Busiest)
	}
	if p := s.Periods[0]; p.Weekdays[time.Tuesday].Busiest != 3*6.5 {
		t.Errorf("week of 2026-11-01, Tuesday: %v, want 19.5", p.Weekdays[time.Tuesday].Busiest)
	}
	in.By = Month
	s = BuildSummary(in)
	// Two weeks with a figure: 32.5 and 2; the three quiet weeks between
	// were not metered and are left out, not averaged in as zero.
	if p := s.Periods[0]; p.All.Busiest != (32.5+2)/2 {
		t.Errorf("2026-11: busiest %v, want (32.5+2)/2", p.All.Busiest)
	}
	if p := s.Periods[0]; p.Hours[0].Busiest != (5.0+2)/2 {
		t.Errorf("2026-11, hour 00: busiest %v, want (5+2)/2", p.Hours[0].Busiest)
	}
	// Mondays: 2026-11-02 (13) and 2026-11-30 (2).
	if p := s.Periods[0]; p.Weekdays[time.Monday].Busiest != (13+2)/2.0 {
		t.Errorf("2026-11, Monday: %v, want 7.5", p.Weekdays[time.Monday].Busiest)
	}
}

// TestBuildSummary_UnmeteredHoursExcluded: hours without statistics, or
// with a zero statistic, are in no figure; an hour seen at one sweep only
// (a peak, no sampled time) has a peak but no average.
func TestBuildSummary_UnmeteredHoursExcluded(t *testing.T) {
	const h = uint64(time.Hour / time.Millisecond)
	in := Input{From: d("2026-11-01"), To: d("2026-11-02"), By: Day,
		Hours: []HourStat{
			{Hour: hour("2026-11-01", 3), Peak: 5, SampledMillis: h, LiveMillis: 4 * h},
			{Hour: hour("2026-11-01", 4)}, // stored empty: no statistics
			{Hour: hour("2026-11-01", 5), Peak: 7},
		},
		Coverage: []Interval{{Start: d("2026-11-01"), End: d("2026-11-02")}},
	}
	got := renderSummary(t, BuildSummary(in), CSV)
	rows, err := csv.NewReader(strings.NewReader(got)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cell := func(col string) string {
		for i, name := range rows[0] {
			if name == col {
				return rows[1][i]
			}
		}
		t.Fatalf("no column %s", col)
		return ""
	}
	for col, want := range map[string]string{
		"metered_hours": "1.000", "peak_live": "7", "average_live_busiest": "4.00", "session_hours": "4.000",
		"metered_hours_03": "1.000", "average_live_03": "4.00",
		"metered_hours_04": "", "peak_live_04": "", "average_live_04": "", "session_hours_04": "",
		"metered_hours_05": "0.000", "peak_live_05": "7", "average_live_05": "", "session_hours_05": "0.000",
		"metered_hours_06": "", "metered_hours_Sunday": "", "unknown_days": "0",
	} {
		if got := cell(col); got != want {
			t.Errorf("%s = %q, want %q", col, got, want)
		}
	}
}

// TestBuildSummary_WeeksAcrossAYearBoundary: the week of 2026-12-27 holds
// the days of 2027 up to Saturday 2027-01-02 whole; by year, each year
// holds its own days, and 2027's busiest average is over its own part of
// that week.
func TestBuildSummary_WeeksAcrossAYearBoundary(t *testing.T) {
	const h = uint64(time.Hour / time.Millisecond)
	in := Input{From: d("2026-12-27"), To: d("2027-01-10"),
		Hours: []HourStat{
			{Hour: hour("2026-12-31", 12), Peak: 3, SampledMillis: h, LiveMillis: 2 * h}, // Thursday
			{Hour: hour("2027-01-01", 12), Peak: 9, SampledMillis: h, LiveMillis: 6 * h}, // Friday
			{Hour: hour("2027-01-04", 12), Peak: 4, SampledMillis: h, LiveMillis: 4 * h}, // Monday, next week
			{Hour: hour("2027-01-09", 23), Peak: 1, SampledMillis: h, LiveMillis: h / 2}, // Saturday
		},
	}
	in.By = Week
	s := BuildSummary(in)
	if len(s.Periods) != 2 || s.Periods[0].Label != "2026-12-27" || s.Periods[1].Label != "2027-01-03" {
		t.Fatalf("weeks %+v", s.Periods)
	}
	w := s.Periods[0]
	if w.Days != 7 || w.All.Peak != 9 || w.All.LiveMillis != 8*h || w.All.Busiest != 4 ||
		w.Weekdays[time.Thursday].LiveMillis != 2*h || w.Weekdays[time.Friday].Peak != 9 {
		t.Errorf("week of 2026-12-27: %+v", w.All)
	}
	csvText := renderSummary(t, s, CSV)
	if !strings.Contains(csvText, "\n2026-12-27,2.000,9,4.00,8.000,") || !strings.Contains(csvText, "\n2027-01-03,2.000,4,2.25,4.500,") {
		t.Errorf("CSV:\n%s", csvText)
	}

	in.By = Year
	s = BuildSummary(in)
	if len(s.Periods) != 2 || s.Periods[0].Label != "2026" || s.Periods[1].Label != "2027" {
		t.Fatalf("years %+v", s.Periods)
	}
	if y := s.Periods[0]; y.Days != 5 || y.All.LiveMillis != 2*h || y.All.Busiest != 2 {
		t.Errorf("2026: %d days, %+v", y.Days, y.All)
	}
	// 2027: the week 2027-01-01..02 (6) and the week of 2027-01-03 ((4+0.5)/2).
	if y := s.Periods[1]; y.Days != 9 || y.All.LiveMillis != 6*h+4*h+h/2 || y.All.Busiest != (6+2.25)/2 {
		t.Errorf("2027: %d days, %+v", y.Days, y.All)
	}
}

// TestBuildSummary_SumsOverHoursAndWeekdays is a property test: over
// random statistics and ranges, for every granularity, each period's
// sampled and live time are the sums over its 24 hours of day, over its
// weekdays and over its weekday-hour grid, and its peak is their largest;
// the periods add up to the whole range.
func TestBuildSummary_SumsOverHoursAndWeekdays(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	for iter := range 200 {
		from := d("2025-12-01").AddDate(0, 0, rng.Intn(60))
		to := from.AddDate(0, 0, 1+rng.Intn(90))
		var hours []HourStat
		var live, sampled uint64
		for t := from.AddDate(0, 0, -2); t.Before(to.AddDate(0, 0, 2)); t = t.Add(time.Hour) {
			if rng.Intn(3) != 0 {
				continue
			}
			s := uint64(rng.Intn(3600001))
			h := HourStat{Hour: t, Peak: uint64(rng.Intn(50)), SampledMillis: s, LiveMillis: s * uint64(rng.Intn(40))}
			hours = append(hours, h)
			if !t.Before(from) && t.Before(to) {
				live += h.LiveMillis
				sampled += h.SampledMillis
			}
		}
		for _, by := range []Granularity{Day, Week, Month, Year} {
			s := BuildSummary(Input{From: from, To: to, By: by, Hours: hours})
			var rangeLive, rangeSampled uint64
			for _, p := range s.Periods {
				var hl, hs, wl, ws, gl, gs, hp, wp uint64
				for h := range 24 {
					hl += p.Hours[h].LiveMillis
					hs += p.Hours[h].SampledMillis
					hp = max(hp, p.Hours[h].Peak)
				}
				for w := range 7 {
					wl += p.Weekdays[w].LiveMillis
					ws += p.Weekdays[w].SampledMillis
					wp = max(wp, p.Weekdays[w].Peak)
					for h := range 24 {
						gl += p.GridCell(time.Weekday(w), h).LiveMillis
						gs += p.GridCell(time.Weekday(w), h).SampledMillis
					}
				}
				if hl != p.All.LiveMillis || wl != p.All.LiveMillis || gl != p.All.LiveMillis ||
					hs != p.All.SampledMillis || ws != p.All.SampledMillis || gs != p.All.SampledMillis ||
					hp != p.All.Peak || wp != p.All.Peak {
					t.Fatalf("iteration %d, %s %s: period live %d sampled %d peak %d; hours %d %d %d, weekdays %d %d %d, grid %d %d",
						iter, by, p.Label, p.All.LiveMillis, p.All.SampledMillis, p.All.Peak, hl, hs, hp, wl, ws, wp, gl, gs)
				}
				rangeLive += p.All.LiveMillis
				rangeSampled += p.All.SampledMillis
			}
			if rangeLive != live || rangeSampled != sampled {
				t.Fatalf("iteration %d, %s: periods hold %d live, %d sampled; the range %d, %d", iter, by, rangeLive, rangeSampled, live, sampled)
			}
			// The CSV's session_hours over the 24 hours is the period's,
			// within the rounding of 24 cells to a thousandth.
			checkCSVSums(t, renderSummary(t, s, CSV))
		}
	}
}

// checkCSVSums checks that each row's session_hours_HH and metered_hours_HH
// sum to its session_hours and metered_hours within the cells' rounding.
func checkCSVSums(t *testing.T, text string) {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatal(err)
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
	for _, row := range rows[1:] {
		for _, col := range []int{1, 4} { // metered_hours, session_hours
			var sum float64
			for h := range 24 {
				sum += num(row[5+4*h+col-1])
			}
			if diff := sum - num(row[col]); diff > 0.0125 || diff < -0.0125 {
				t.Fatalf("%s: column %s is %s, its 24 hours sum to %.3f", row[0], rows[0][col], row[col], sum)
			}
		}
	}
}

// TestWriteSummaryCSV_EndsAtToday: no row after today, and the pretty form
// says where the summary ends.
func TestWriteSummaryCSV_EndsAtToday(t *testing.T) {
	in := twoDaysInput(Day)
	in.Today = hour("2026-11-02", 15)
	s := BuildSummary(in)
	rows := strings.Split(strings.TrimSuffix(renderSummary(t, s, CSV), "\n"), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[2], "2026-11-02,") {
		t.Errorf("rows %q, want the header, 2026-11-01 and 2026-11-02", rows)
	}
	if pretty := renderSummary(t, s, Pretty); !strings.Contains(pretty, "\nSummary ends at today, 2026-11-02\n") {
		t.Errorf("pretty:\n%s", pretty)
	}
	var out struct {
		To          string `json:"to"`
		EndsAtToday string `json:"ends_at_today"`
	}
	if err := json.Unmarshal([]byte(renderSummary(t, s, JSON)), &out); err != nil || out.To != "2026-11-05" || out.EndsAtToday != "2026-11-02" {
		t.Errorf("JSON: %+v, %v", out, err)
	}
}

// TestMillisHours: milliseconds in hours to 3 decimals, half up, exact.
func TestMillisHours(t *testing.T) {
	for ms, want := range map[uint64]string{0: "0.000", 1799: "0.000", 1800: "0.001", 3600000: "1.000", 5399999: "1.500",
		9000000: "2.500", 18446744073709551615: "5124095576030.431"} {
		if got := millisHours(ms); got != want {
			t.Errorf("millisHours(%d) = %s, want %s", ms, got, want)
		}
	}
}

// TestWriteSummaryHTML_MatchesCSV: the page loads nothing, and its tables
// hold the CSV's cells: each period's row of id="summary", and in each
// period's section its hour-of-day and weekday rows. Each heat strip has
// 24 cells, the metered ones with their mean live sessions.
func TestWriteSummaryHTML_MatchesCSV(t *testing.T) {
	for _, by := range []Granularity{Day, Week, Month} {
		s := BuildSummary(twoDaysInput(by))
		page := renderSummary(t, s, HTML)
		for _, bad := range []string{"http://", "https://", "src=", "href=", "<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url("} {
			if strings.Contains(page, bad) {
				t.Errorf("--by %s: the page holds %q", by, bad)
			}
		}
		checkSummaryHTMLAgainstCSV(t, page, s)
	}
	page := renderSummary(t, BuildSummary(twoDaysInput(Week)), HTML)
	for _, want := range []string{
		`<tr class="strip" data-weekday="Monday"><th scope="row">Monday</th>`,
		`<td class="heat-5" data-hour="14" data-mean-live="5.00" title="Monday 14:00: 5.00 live on average over 1.000 metered hours, peak 10">5.0</td>`,
		`<td class="heat-0" data-hour="11" data-mean-live="0.00" title="Sunday 11:00: 0.00 live on average over 1.000 metered hours, peak 0">0</td>`,
		`<td class="not-metered" data-hour="12" title="Sunday 12:00: not metered"></td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the week's page has no %s", want)
		}
	}
}

// checkSummaryHTMLAgainstCSV checks that page, s's HTML form, holds the
// CSV's cells: each period's row of id="summary", and in each period's
// section its hour-of-day and weekday rows; and that each heat strip has
// 24 cells.
func checkSummaryHTMLAgainstCSV(t *testing.T, page string, s Summary) {
	t.Helper()
	by := s.By
	rows, err := csv.NewReader(strings.NewReader(renderSummary(t, s, CSV))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	classes := []string{"metered-hours", "peak-live", "average-live", "session-hours"}
	for _, row := range rows[1:] {
		summary := summaryHTMLRow(t, page, `<tr data-period="`+row[0]+`"`)
		for i, class := range []string{"metered-hours", "peak-live", "average-live-busiest", "session-hours"} {
			if got := summaryHTMLCell(summary, class); got != row[1+i] {
				t.Errorf("--by %s, %s: summary %s %q, CSV %q", by, row[0], class, got, row[1+i])
			}
		}
		if got := summaryHTMLCell(summary, "unknown-days"); got != row[len(row)-1] {
			t.Errorf("--by %s, %s: unknown-days %q, CSV %q", by, row[0], got, row[len(row)-1])
		}
		start := strings.Index(page, `<section class="period" data-period="`+row[0]+`"`)
		if start < 0 {
			t.Fatalf("--by %s: no section for %s", by, row[0])
		}
		section := page[start : start+strings.Index(page[start:], "</section>")]
		if !strings.Contains(section, `<table class="heat"`) {
			if row[1] != "" {
				t.Errorf("--by %s, %s: metered, but no heat strip", by, row[0])
			}
			continue
		}
		for h := range 24 {
			hr := summaryHTMLRow(t, section, `<tr data-hour="`+twoDigits(h)+`"`)
			for i, class := range classes {
				if got := summaryHTMLCell(hr, class); got != row[5+4*h+i] {
					t.Errorf("--by %s, %s, hour %02d: %s %q, CSV %q", by, row[0], h, class, got, row[5+4*h+i])
				}
			}
		}
		for wd, name := range weekdayNames {
			if by == Day {
				if strings.Contains(section, `<tr data-weekday="`+name+`"`) {
					t.Errorf("--by day, %s: a weekday row", row[0])
				}
				continue
			}
			wr := summaryHTMLRow(t, section, `<tr data-weekday="`+name+`"`)
			for i, class := range classes {
				if got := summaryHTMLCell(wr, class); got != row[5+96+4*wd+i] {
					t.Errorf("--by %s, %s, %s: %s %q, CSV %q", by, row[0], name, class, got, row[5+96+4*wd+i])
				}
			}
		}
		strips := strings.Count(section, `<tr class="strip"`)
		if want := map[Granularity]int{Day: 1, Week: 7, Month: 7}[by]; strips != want || strings.Count(section, `<td class="heat-`)+strings.Count(section, `<td class="not-metered"`) != 24*want {
			t.Errorf("--by %s, %s: %d strips, want %d of 24 cells", by, row[0], strips, want)
		}
	}
}

// summaryHTMLRow returns the table row of page that starts with start.
func summaryHTMLRow(t *testing.T, page, start string) string {
	t.Helper()
	i := strings.Index(page, start)
	if i < 0 {
		t.Fatalf("no row %s", start)
	}
	return page[i : i+strings.Index(page[i:], "</tr>")]
}

// summaryHTMLCell returns the text of the cell of row whose classes end with class.
func summaryHTMLCell(row, class string) string {
	i := strings.Index(row, ` `+class+`">`)
	if i < 0 {
		return "(no cell " + class + ")"
	}
	rest := row[i+len(class)+3:]
	return rest[:strings.Index(rest, "<")]
}

// TestWriteSummaryHTML_Chromium opens the week's summary in a real browser:
// the DOM Chromium builds holds the CSV's cells, the page logs no console
// error, and a screenshot is kept as artifacts/summary-html.png.
func TestWriteSummaryHTML_Chromium(t *testing.T) {
	bin := chromiumBinary(t)
	s := BuildSummary(twoDaysInput(Week))
	file := filepath.Join(t.TempDir(), "summary.html")
	if err := os.WriteFile(file, []byte(renderSummary(t, s, HTML)), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + file
	dom, stderr := runChromium(t, bin, "--dump-dom", url)
	if !strings.Contains(dom, `<tr data-period=`) {
		t.Fatalf("the dumped DOM has no summary rows:\n%.2000s\nstderr:\n%s", dom, stderr)
	}
	checkSummaryHTMLAgainstCSV(t, dom, s)
	if errs := consoleErrors(stderr); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}

	shot := filepath.Join(t.TempDir(), "summary.png")
	_, stderr = runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,1300", "--hide-scrollbars", url)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\nstderr:\n%s", err, stderr)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) <= 10<<10 {
		t.Fatalf("screenshot is %d bytes, want a PNG over 10 KB", len(png))
	}
	artifacts := filepath.Join(repoRoot(t), "artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(artifacts, "summary-html.png")
	if err := os.WriteFile(kept, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot (%d KB): %s", len(png)>>10, kept)
}
