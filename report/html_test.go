package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"html"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// seedReport is the seed document's example (testdata/seed/history.csv):
// 2023-01-01 to 2024-04-01 by month, six gaps, 34739664 sessions.
func seedReport(t *testing.T, env string) Report {
	t.Helper()
	days, cov := readHistory(t, "testdata/seed/history.csv")
	return Build(Input{From: d("2023-01-01"), To: d("2024-04-02"), By: Month, Environment: env, Days: days, Coverage: cov})
}

// dayReport is a short report by day with live-session detail and a gap.
func dayReport() Report {
	return Build(Input{
		From: d("2023-03-25"), To: d("2023-03-31"), By: Day, Environment: "PROD-EU",
		Days: []DaySessions{{Day: d("2023-03-25"), Sessions: 1200}, {Day: d("2023-03-26"), Sessions: 3050}, {Day: d("2023-03-30"), Sessions: 980}},
		Hours: []HourStat{
			{Hour: d("2023-03-25").Add(10 * time.Hour), Peak: 70, LiveMillis: 3600000 * 40, SampledMillis: 3600000},
			{Hour: d("2023-03-26").Add(11 * time.Hour), Peak: 95, LiveMillis: 1800000 * 61, SampledMillis: 1800000},
		},
		Coverage: append(coveredDays("2023-03-25", "2023-03-27"), coveredDays("2023-03-30", "2023-03-30")...),
	})
}

// MustWriteHTML renders r as HTML or fails the test.
func MustWriteHTML(t *testing.T, r Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWriteHTML_SelfContained(t *testing.T) {
	const env = `<b>UAT & co</b>`
	page := MustWriteHTML(t, seedReport(t, env))
	lower := strings.ToLower(page)
	for _, bad := range []string{"http://", "https://", "src=", "href=", "<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url("} {
		if strings.Contains(lower, bad) {
			t.Errorf("page contains %q: it must load nothing", bad)
		}
	}
	if strings.Contains(page, env) || strings.Contains(page, "<b>") {
		t.Errorf("environment %q is not escaped", env)
	}
	if escaped := "<h1>&lt;b&gt;UAT &amp; co&lt;/b&gt;</h1>"; !strings.Contains(page, escaped) {
		t.Errorf("page lacks the escaped environment %s", escaped)
	}
	if !strings.HasPrefix(page, "<!DOCTYPE html>\n") {
		t.Errorf("page does not start with the HTML5 doctype")
	}
	for _, want := range []string{"2023-01-01 to 2024-04-01", "UTC"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// htmlPageData is what a test reads back from a page (as written, or as a
// browser's DOM): the table rows, the total and the chart's rectangles.
type htmlPageData struct {
	rows      [][]string // period, sessions, gaps[, covered hours, peak live, average live]
	total     string
	bars      [][2]string // period, sessions
	chartBy   string      // the chart's data-by: what a bar is
	gapRects  int
	gapLines  []string
	xLabels   []htmlLabel
	h1        string
	chartSeen bool
}

type htmlLabel struct {
	x    float64
	text string
}

var (
	reRow      = regexp.MustCompile(`(?s)<tr data-period="([^"]*)"[^>]*>(.*?)</tr>`)
	reTotal    = regexp.MustCompile(`id="total"[^>]*>([^<]*)<`)
	reChart    = regexp.MustCompile(`(?s)<svg id="chart"(?: data-by="([^"]*)")?[^>]*>(.*?)</svg>`)
	reBar      = regexp.MustCompile(`<rect class="bar"([^>]*)>`)
	reGapRect  = regexp.MustCompile(`<rect class="gap"[^>]*>`)
	reGapLine  = regexp.MustCompile(`<span class="pretty">([^<]*)</span>`)
	reXLabel   = regexp.MustCompile(`<text class="xlabel" x="([^"]*)"[^>]*>([^<]*)</text>`)
	reH1       = regexp.MustCompile(`<h1>([^<]*)</h1>`)
	reDataAttr = regexp.MustCompile(`data-(period|sessions)="([^"]*)"`)
	reNegative = regexp.MustCompile(` (?:x|y|width|height|x1|x2|y1|y2)="-[^"]*"`)
)

// cell returns the text of the row's <td> of the given class.
func cell(row, class string) (string, bool) {
	re := regexp.MustCompile(`(?s)<td class="(?:[^"]* )?` + class + `(?: [^"]*)?"[^>]*>(.*?)</td>`)
	m := re.FindStringSubmatch(row)
	if m == nil {
		return "", false
	}
	return html.UnescapeString(m[1]), true
}

var reNumber = regexp.MustCompile(`^<data value="([^"]*)">([^<]*)</data>$`)

// numberCell returns the value of the row's <td> of the given class that
// holds a figure: empty, or <data value="V">T</data> where T is V with a
// comma between each three digits of its whole part, as the summary cards
// write numbers. It fails the test on any other content.
func numberCell(t *testing.T, row, class string) string {
	t.Helper()
	c, ok := cell(row, class)
	if !ok {
		t.Errorf("row %.60s… has no td.%s", row, class)
		return ""
	}
	if c == "" {
		return ""
	}
	m := reNumber.FindStringSubmatch(c)
	if m == nil {
		t.Errorf("td.%s holds %q, want <data value=\"N\">N with commas</data>", class, c)
		return c
	}
	if want := withCommas(m[1]); m[2] != want {
		t.Errorf("td.%s shows %q for %s, want %q", class, m[2], m[1], want)
	}
	return m[1]
}

// withCommas puts a comma between each three digits of s's whole part:
// 3685341 is 3,685,341 and 1234.50 is 1,234.50.
func withCommas(s string) string {
	whole, frac, dot := strings.Cut(s, ".")
	var b []byte
	for i := range len(whole) {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, whole[i])
	}
	if dot {
		return string(b) + "." + frac
	}
	return string(b)
}

func parseHTMLPage(t *testing.T, page string, dayColumns bool) htmlPageData {
	t.Helper()
	var p htmlPageData
	for _, m := range reRow.FindAllStringSubmatch(page, -1) {
		row := []string{html.UnescapeString(m[1]), numberCell(t, m[2], "sessions")}
		gaps, ok := cell(m[2], "gaps")
		if !ok {
			t.Errorf("row %s has no td.gaps", m[1])
		}
		row = append(row, gaps)
		if dayColumns {
			hours, ok := cell(m[2], "covered-hours")
			if !ok {
				t.Errorf("row %s has no td.covered-hours", m[1])
			}
			row = append(row, hours, numberCell(t, m[2], "peak-live"), numberCell(t, m[2], "average-live"))
		}
		p.rows = append(p.rows, row)
	}
	if m := reTotal.FindStringSubmatch(page); m != nil {
		p.total = m[1]
	}
	if m := reH1.FindStringSubmatch(page); m != nil {
		p.h1 = html.UnescapeString(m[1])
	}
	chart := reChart.FindStringSubmatch(page)
	if chart == nil {
		return p
	}
	p.chartSeen, p.chartBy = true, chart[1]
	chart = chart[1:]
	for _, m := range reBar.FindAllStringSubmatch(chart[1], -1) {
		var bar [2]string
		for _, a := range reDataAttr.FindAllStringSubmatch(m[1], -1) {
			if a[1] == "period" {
				bar[0] = a[2]
			} else {
				bar[1] = a[2]
			}
		}
		p.bars = append(p.bars, bar)
	}
	p.gapRects = len(reGapRect.FindAllString(chart[1], -1))
	for _, m := range reXLabel.FindAllStringSubmatch(chart[1], -1) {
		x, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Errorf("x label %q: %v", m[2], err)
		}
		p.xLabels = append(p.xLabels, htmlLabel{x, m[2]})
	}
	for _, m := range reGapLine.FindAllStringSubmatch(page, -1) {
		p.gapLines = append(p.gapLines, html.UnescapeString(m[1]))
	}
	return p
}

// checkHTMLAgainstCSV checks that the page says what the CSV and the pretty
// form of the same report say: every row's cells, the total, one bar per
// covered period with its sessions, one shaded gap per gap, the gap lines.
// A report of at most 3 periods longer than a day has its chart by day: one
// bar per covered day, with the day's sessions, those of each period's days
// summing to the period's CSV cell.
func checkHTMLAgainstCSV(t *testing.T, page string, r Report) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := parseHTMLPage(t, page, r.By == Day)
	if !got.chartSeen {
		t.Fatal(`page has no <svg id="chart">`)
	}
	if len(got.rows) != len(records)-1 {
		t.Errorf("page has %d period rows, CSV %d", len(got.rows), len(records)-1)
	}
	byDay := r.By != Day && len(r.Periods) <= 3
	if want := map[bool]string{true: "day", false: r.By.String()}[byDay]; got.chartBy != want {
		t.Errorf("chart data-by=%q, want %q", got.chartBy, want)
	}
	var sum uint64
	var wantBars [][2]string
	if byDay {
		for _, day := range r.Days {
			if day.Covered {
				wantBars = append(wantBars, [2]string{date(day.Date), strconv.FormatUint(day.Sessions, 10)})
			}
		}
		// The days' bars of each period sum to its CSV cell.
		for _, rec := range records[1:] {
			var days uint64
			for _, b := range got.bars {
				at, err := time.Parse(DateLayout, b[0])
				if err != nil || at.Before(periodStart(r, rec[0])) || !at.Before(periodEnd(r, rec[0])) {
					continue // not a day (a wrong bar, counted above), or not in this period
				}
				n, _ := strconv.ParseUint(b[1], 10, 64)
				days += n
			}
			if rec[1] != "" && strconv.FormatUint(days, 10) != rec[1] {
				t.Errorf("the days' bars of %s sum to %d, the CSV says %s", rec[0], days, rec[1])
			}
		}
	}
	for i, rec := range records[1:] {
		want := []string{rec[0], rec[1], rec[2]}
		if r.By == Day {
			want = append(want, rec[4:7]...)
		}
		if i < len(got.rows) && strings.Join(got.rows[i], "|") != strings.Join(want, "|") {
			t.Errorf("row %d: page %q, CSV %q", i+1, got.rows[i], want)
		}
		if rec[1] != "" {
			n, err := strconv.ParseUint(rec[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			sum += n
			if !byDay {
				wantBars = append(wantBars, [2]string{rec[0], rec[1]})
			}
		}
	}
	if want := strconv.FormatUint(sum, 10); got.total != want {
		t.Errorf("#total = %q, the CSV's sessions sum to %s", got.total, want)
	}
	if len(got.bars) != len(wantBars) {
		t.Errorf("chart has %d bars, want one per covered %s: %d", len(got.bars), got.chartBy, len(wantBars))
	}
	for i := range min(len(got.bars), len(wantBars)) {
		if got.bars[i] != wantBars[i] {
			t.Errorf("bar %d: period, sessions = %q, want %q", i+1, got.bars[i], wantBars[i])
		}
	}
	if got.gapRects != len(r.Gaps) {
		t.Errorf("chart has %d gap rects, report %d gaps", got.gapRects, len(r.Gaps))
	}
	var pretty bytes.Buffer
	if err := WritePretty(&pretty, r); err != nil {
		t.Fatal(err)
	}
	var wantLines []string
	for _, line := range strings.Split(pretty.String(), "\n") {
		if strings.HasPrefix(line, "Gap between ") {
			wantLines = append(wantLines, line)
		}
	}
	if strings.Join(got.gapLines, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("gap lines:\n%s\nwant the pretty form's:\n%s", strings.Join(got.gapLines, "\n"), strings.Join(wantLines, "\n"))
	}
	if got.h1 != r.Environment {
		t.Errorf("<h1> = %q, want the environment %q", got.h1, r.Environment)
	}
}

// TestWriteHTML_EdgeCases renders the shapes a chart can break on and reads
// each page back against the CSV.
func TestWriteHTML_EdgeCases(t *testing.T) {
	days, cov := readHistory(t, "testdata/seed/history.csv")
	cases := []struct {
		name   string
		in     Input
		labels func(t *testing.T, got []htmlLabel, periods int)
	}{
		{name: "nothing covered", in: Input{From: d("2023-01-15"), To: d("2023-03-10"), By: Month}},
		{name: "single day covered", in: Input{From: d("2023-05-05"), To: d("2023-05-06"), Days: []DaySessions{{Day: d("2023-05-05"), Sessions: 42}}, Coverage: coveredDays("2023-05-05", "2023-05-05")}},
		{name: "single day uncovered", in: Input{From: d("2023-05-05"), To: d("2023-05-06"), By: Day}},
		{name: "zero sessions everywhere", in: Input{From: d("2023-01-01"), To: d("2023-07-01"), Coverage: coveredDays("2023-01-01", "2023-06-30")}},
		{name: "by week", in: Input{From: d("2023-03-01"), To: d("2023-06-01"), By: Week, Days: days, Coverage: cov}},
		{name: "by year", in: Input{From: d("2022-06-01"), To: d("2024-04-02"), By: Year, Days: days, Coverage: cov}},
		{
			name: "by day over a year", in: Input{From: d("2023-01-01"), To: d("2024-01-01"), By: Day, Days: days, Coverage: cov},
			labels: func(t *testing.T, got []htmlLabel, periods int) {
				if len(got) < 6 || len(got) > periods/10 {
					t.Errorf("%d x labels for %d days: want them thinned to between 6 and %d", len(got), periods, periods/10)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Environment = "EDGE"
			r := Build(tc.in)
			page := MustWriteHTML(t, r)
			checkHTMLAgainstCSV(t, page, r)
			for _, bad := range []string{"NaN", "Inf"} {
				if strings.Contains(page, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			if m := reNegative.FindString(page); m != "" {
				t.Errorf("chart has a negative coordinate or size: %s", m)
			}
			got := parseHTMLPage(t, page, r.By == Day).xLabels
			if len(got) == 0 {
				t.Errorf("chart has no x labels")
			}
			// Labels must not overlap: centred, about 0.62 em per character.
			for i := 1; i < len(got); i++ {
				half := func(l htmlLabel) float64 { return float64(len(l.text)) * 0.62 * 11 / 2 }
				if got[i].x-half(got[i]) < got[i-1].x+half(got[i-1]) {
					t.Errorf("x labels %s and %s overlap", got[i-1].text, got[i].text)
				}
			}
			if tc.labels != nil {
				tc.labels(t, got, len(r.Periods))
			}
		})
	}
}

func TestWriteHTML_Golden(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Report
	}{
		{"seed.html", seedReport(t, "UAT-ENV")},
		{"days.html", dayReport()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MustWriteHTML(t, tc.r)
			if again := MustWriteHTML(t, tc.r); again != got {
				t.Fatal("two renderings of the same report differ")
			}
			checkHTMLAgainstCSV(t, got, tc.r)
			golden(t, filepath.Join("html", tc.name), got)
		})
	}
}

// chromiumBinary returns Debian's Chromium, or fails: the test is the proof
// that a real browser renders the page, so it is never skipped.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("chromium not found: install it: apt-get install chromium")
	return ""
}

// runChromium runs headless Chromium with a fresh profile and no network
// chatter, bounded by 60 s, and returns its stdout and stderr.
func runChromium(t *testing.T, bin string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	profile, err := os.MkdirTemp("", "headcount-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// Chromium's helpers may still be writing the profile as it exits, so
	// clean up best-effort rather than with t.TempDir's strict check.
	defer os.RemoveAll(profile)
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second // helpers that outlive the browser must not hold the pipes forever
	start := time.Now()
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("chromium %v: timed out after 60 s\nstderr:\n%s", args, errb.String())
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("chromium %v: %v\nstderr:\n%s", args, err, errb.String())
	}
	t.Logf("chromium %s: %v", args[0], time.Since(start).Round(time.Millisecond))
	return out.String(), errb.String()
}

// consoleErrors returns Chromium's log lines that report a console message
// or an uncaught exception; GPU and D-Bus warnings do not count.
func consoleErrors(stderr string) []string {
	var out []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") {
			out = append(out, line)
		}
	}
	return out
}

// repoRoot returns the module's root, where artifacts/ lives.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// TestWriteHTML_Chromium opens the seed report in a real browser: the DOM
// Chromium builds from the page must carry the CSV's rows, total, bars and
// gaps, the page must log no console error, and a screenshot of it is kept
// as artifacts/report-html.png.
func TestWriteHTML_Chromium(t *testing.T) {
	bin := chromiumBinary(t)
	r := seedReport(t, "UAT-ENV")
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(MustWriteHTML(t, r)), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + file

	t.Run("dom", func(t *testing.T) {
		dom, stderr := runChromium(t, bin, "--dump-dom", url)
		if !strings.Contains(dom, `<tr data-period=`) {
			t.Fatalf("the dumped DOM has no report rows:\n%.2000s\nstderr:\n%s", dom, stderr)
		}
		checkHTMLAgainstCSV(t, dom, r)
		if errs := consoleErrors(stderr); len(errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(dir, "report.png")
		_, stderr := runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,1600", "--hide-scrollbars", url)
		if errs := consoleErrors(stderr); len(errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
		}
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
		kept := filepath.Join(artifacts, "report-html.png")
		if err := os.WriteFile(kept, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot (%d KB): %s", len(png)>>10, kept)
	})
}

// TestWriteHTML_TableThousands: the table writes its numbers as the summary
// cards do, with commas between thousands, and keeps the CSV's digits in
// each <data value>: a row's sessions and classes, and the totals' row,
// whose sessions read exactly as the total card's.
func TestWriteHTML_TableThousands(t *testing.T) {
	page := MustWriteHTML(t, seedReport(t, "UAT-ENV"))
	card := regexp.MustCompile(`<div class="card total">.*?<data value="([^"]*)">([^<]*)</data>`).FindStringSubmatch(page)
	if card == nil || card[1] != "34739664" || card[2] != "34,739,664" {
		t.Fatalf("total card %q, want 34,739,664", card)
	}
	for _, want := range []string{
		`<tr data-period="2023-01"><th scope="row">2023-01</th><td class="sessions"><data value="3685341">3,685,341</data></td><td class="num human"><data value="3685341">3,685,341</data></td><td class="num bots"><data value="0">0</data></td><td class="num unclassified"><data value="0">0</data></td>`,
		`<tr data-period="2024-01" class="not-metered"><th scope="row">2024-01</th><td class="sessions"></td><td class="num human"></td>`,
		`<tfoot><tr><td>Total</td><td class="num total-sessions"><data value="34739664">` + card[2] + `</data></td><td class="num total-human"><data value="34739664">34,739,664</data></td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the table lacks\n%s", want)
		}
	}
	// The day columns: the peak and the average too.
	r := Build(Input{From: d("2026-03-01"), To: d("2026-03-02"), By: Day, Environment: "PROD",
		Days:     []DaySessions{{Day: d("2026-03-01"), Sessions: 1234567}},
		Hours:    []HourStat{{Hour: d("2026-03-01").Add(9 * time.Hour), Peak: 12345, LiveMillis: 3600000 * 2345 / 2, SampledMillis: 3600000}},
		Coverage: coveredDays("2026-03-01", "2026-03-01")})
	if want := `<td class="num covered-hours">24</td><td class="num peak-live"><data value="12345">12,345</data></td><td class="num average-live"><data value="1172.50">1,172.50</data></td>`; !strings.Contains(MustWriteHTML(t, r), want) {
		t.Errorf("the day row lacks\n%s", want)
	}
}

// periodStart and periodEnd return the first day of the report's period
// labelled label and the day after its last.
func periodStart(r Report, label string) time.Time {
	for _, p := range r.Periods {
		if p.Label == label {
			return p.Start
		}
	}
	panic("no period " + label)
}

func periodEnd(r Report, label string) time.Time {
	for _, p := range r.Periods {
		if p.Label == label {
			return p.End
		}
	}
	panic("no period " + label)
}

// monthWithGap is a one-month report, November 2026 by month, metered but
// for 2026-11-12 to 2026-11-16: a gap in the middle of the month.
func monthWithGap(by Granularity) Input {
	in := Input{From: d("2026-11-01"), To: d("2026-12-01"), By: by, Environment: "PROD-EU",
		Coverage: append(coveredDays("2026-11-01", "2026-11-11"), coveredDays("2026-11-17", "2026-11-30")...)}
	for i := 0; i < 30; i++ {
		day := d("2026-11-01").AddDate(0, 0, i)
		if i < 11 || i >= 16 {
			in.Days = append(in.Days, DaySessions{Day: day, Sessions: uint64(900 + 137*i), Bots: uint64(i)})
		}
	}
	return in
}

var (
	reGapBox   = regexp.MustCompile(`<rect class="gap" x="([^"]*)" y="[^"]*" width="([^"]*)"[^>]*><title>([^<]*)</title>`)
	reGapLabel = regexp.MustCompile(`<text class="gap-label" x="([^"]*)"[^>]*>([^<]*)</text>`)
	reBarBox   = regexp.MustCompile(`<rect class="bar" data-period="([^"]*)" data-sessions="[^"]*" x="([^"]*)" y="[^"]*" width="([^"]*)"`)
)

// TestWriteHTML_FewPeriodsDrawDays: a report of one month (at most three
// periods) draws its chart by day, so that a gap inside the month is a band
// where it falls, labelled, between the bars of the days around it; the
// table stays by month.
func TestWriteHTML_FewPeriodsDrawDays(t *testing.T) {
	r := Build(monthWithGap(Month))
	page := MustWriteHTML(t, r)
	checkHTMLAgainstCSV(t, page, r)
	got := parseHTMLPage(t, page, false)
	if len(got.rows) != 1 || got.rows[0][0] != "2026-11" || got.chartBy != "day" || len(got.bars) != 25 {
		t.Fatalf("rows %q, chart by %q with %d bars; want the one month's row and 25 bars by day", got.rows, got.chartBy, len(got.bars))
	}
	boxes := map[string][2]float64{}
	for _, m := range reBarBox.FindAllStringSubmatch(page, -1) {
		x, _ := strconv.ParseFloat(m[2], 64)
		w, _ := strconv.ParseFloat(m[3], 64)
		boxes[m[1]] = [2]float64{x, x + w}
	}
	gap := reGapBox.FindAllStringSubmatch(page, -1)
	if len(gap) != 1 || gap[0][3] != "Not metered: 2026-11-12 to 2026-11-16 (5 days)" {
		t.Fatalf("gap bands %q, want one for 2026-11-12 to 2026-11-16", gap)
	}
	gx, _ := strconv.ParseFloat(gap[0][1], 64)
	gw, _ := strconv.ParseFloat(gap[0][2], 64)
	// The plot is 922 units wide for 30 days: the band covers days 12..16.
	day := 922.0 / 30
	if want := 64 + 11*day; diff(gx, want) > 0.01 || diff(gw, 5*day) > 0.01 {
		t.Errorf("gap band at %.2f width %.2f, want %.2f width %.2f", gx, gw, want, 5*day)
	}
	if before, after := boxes["2026-11-11"], boxes["2026-11-17"]; before[1] > gx || after[0] < gx+gw {
		t.Errorf("the band %.2f..%.2f overlaps the bars of 2026-11-11 (%v) or 2026-11-17 (%v)", gx, gx+gw, before, after)
	}
	label := reGapLabel.FindAllStringSubmatch(page, -1)
	if len(label) != 1 || label[0][2] != "gap 5 d" {
		t.Fatalf("gap labels %q, want one \"gap 5 d\"", label)
	}
	if lx, _ := strconv.ParseFloat(label[0][1], 64); diff(lx, gx+gw/2) > 0.01 {
		t.Errorf("gap label at %.2f, want centred over the band at %.2f", lx, gx+gw/2)
	}
	for _, want := range []string{
		"<h2>Sessions per day</h2>",
		`<title id="chart-title">Sessions per day, 2026-11-01 to 2026-11-30 (UTC)</title>`,
		`<figcaption class="chart-by">Drawn by day, so that a gap shows where it falls; the table below is by month.</figcaption>`,
		"<h2>Sessions by month</h2>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// Four periods are drawn as periods again, as is a report by day.
	in := monthWithGap(Week) // 2026-11-01 to 2026-11-30: five weeks
	if got := parseHTMLPage(t, MustWriteHTML(t, Build(in)), false); got.chartBy != "week" || len(got.bars) != 5 {
		t.Errorf("five weeks: chart by %q with %d bars, want by week, 5", got.chartBy, len(got.bars))
	}
	in.From, in.To = d("2026-11-01"), d("2026-11-22") // three weeks
	if got := parseHTMLPage(t, MustWriteHTML(t, Build(in)), false); got.chartBy != "day" || len(got.bars) != 16 {
		t.Errorf("three weeks: chart by %q with %d bars, want by day, 16", got.chartBy, len(got.bars))
	}
}

// TestWriteHTML_ChromiumMonthGap opens a one-month report with a gap in the
// middle of the month in a real browser. The DOM Chromium builds carries the
// CSV's numbers: the month's row as the CSV by month has it, and one bar per
// metered day with the sessions the CSV by day has. The screenshot (kept as
// artifacts/report-html-month-gap.png) shows the gap where it falls: a
// shaded band over 2026-11-12 to 2026-11-16, no bar in it, bars on both
// sides, and its label and "not metered" drawn in the gap's ink.
func TestWriteHTML_ChromiumMonthGap(t *testing.T) {
	bin := chromiumBinary(t)
	r := Build(monthWithGap(Month))
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(MustWriteHTML(t, r)), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + file

	t.Run("dom", func(t *testing.T) {
		dom, stderr := runChromium(t, bin, "--dump-dom", url)
		if !strings.Contains(dom, `<tr data-period=`) {
			t.Fatalf("the dumped DOM has no report rows:\n%.2000s\nstderr:\n%s", dom, stderr)
		}
		checkHTMLAgainstCSV(t, dom, r)
		// The bars are the rows of the CSV by day that have sessions.
		var b bytes.Buffer
		if err := WriteCSV(&b, Build(monthWithGap(Day))); err != nil {
			t.Fatal(err)
		}
		records, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, rec := range records[1:] {
			if rec[1] != "" {
				want = append(want, rec[0]+"="+rec[1])
			}
		}
		var got []string
		for _, bar := range parseHTMLPage(t, dom, false).bars {
			got = append(got, bar[0]+"="+bar[1])
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("the DOM's bars:\n%s\nthe CSV by day:\n%s", strings.Join(got, " "), strings.Join(want, " "))
		}
		if labels := reGapLabel.FindAllStringSubmatch(dom, -1); len(labels) != 1 || labels[0][2] != "gap 5 d" {
			t.Errorf("the DOM's gap labels %q, want one \"gap 5 d\"", labels)
		}
		if errs := consoleErrors(stderr); len(errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(dir, "report.png")
		_, stderr := runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,1400", "--hide-scrollbars", url)
		if errs := consoleErrors(stderr); len(errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
		}
		data, err := os.ReadFile(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v\nstderr:\n%s", err, stderr)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("the screenshot is not a PNG: %v", err)
		}
		artifacts := filepath.Join(repoRoot(t), "artifacts")
		if err := os.MkdirAll(artifacts, 0o755); err != nil {
			t.Fatal(err)
		}
		kept := filepath.Join(artifacts, "report-html-month-gap.png")
		if err := os.WriteFile(kept, data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot (%d KB): %s", len(data)>>10, kept)
		checkMonthGapScreenshot(t, img)
	})
}

// Colours of the page's style sheet, as a screenshot shows them.
var (
	gapFill = color.RGBA{0xfd, 0xe7, 0xc0, 0xff} // --gap
	gapInk  = color.RGBA{0x8a, 0x4b, 0x08, 0xff} // --gap-ink
	barFill = color.RGBA{0x25, 0x63, 0xeb, 0xff} // --accent
)

// near reports whether c is within dist of want in each channel.
func near(c color.Color, want color.RGBA, dist int) bool {
	r, g, b, _ := c.RGBA()
	d := func(v uint32, w uint8) bool { x := int(v>>8) - int(w); return x <= dist && x >= -dist }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

// checkMonthGapScreenshot finds the chart's gap band in the screenshot of
// monthWithGap(Month) by its colour: the columns with at least 150 px of it
// (the grid lines cross the band; the legend's swatch is 12 px tall). In the rows of the band, the bars are
// left and right of it and never in it, and the band's place between the
// first bar's left edge and the last bar's right edge is where days 12 to 16
// of 30 are (within 2 px). The label above the band and the "not metered"
// in it are drawn in the gap's ink.
func checkMonthGapScreenshot(t *testing.T, img image.Image) {
	t.Helper()
	bounds := img.Bounds()
	left, right, top, bottom := bounds.Max.X, -1, bounds.Max.Y, -1
	for x := bounds.Min.X; x < bounds.Max.X; x++ {
		n, first, last := 0, 0, 0
		for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
			if near(img.At(x, y), gapFill, 2) {
				if n == 0 {
					first = y
				}
				n, last = n+1, y
			}
		}
		if n >= 150 {
			left, right = min(left, x), max(right, x)
			top, bottom = min(top, first), max(bottom, last)
		}
	}
	if right < 0 {
		t.Fatal("the screenshot shows no gap band (no column with 150 px of the gap's colour)")
	}
	t.Logf("gap band: x %d..%d, y %d..%d", left, right, top, bottom)
	barLeft, barRight, inBand := bounds.Max.X, -1, 0
	for y := top; y <= bottom; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			if !near(img.At(x, y), barFill, 8) {
				continue
			}
			if x >= left && x <= right {
				inBand++
			}
			barLeft, barRight = min(barLeft, x), max(barRight, x)
		}
	}
	if inBand > 0 || barLeft >= left || barRight <= right {
		t.Fatalf("bars span x %d..%d with %d pixels inside the band %d..%d: want bars on both sides, none inside", barLeft, barRight, inBand, left, right)
	}
	// Bars run from day 1's left edge (pad 12 % of a day) to day 30's right
	// edge: the band is days 12..16 on that scale.
	day := float64(barRight+1-barLeft) / (30 - 2*0.12)
	origin := float64(barLeft) - 0.12*day
	wantL, wantR := origin+11*day, origin+16*day
	t.Logf("bars: x %d..%d, %.2f px a day; the band's days 12 to 16 at x %.1f..%.1f", barLeft, barRight, day, wantL, wantR)
	if diff(float64(left), wantL) > 2 || diff(float64(right+1), wantR) > 2 {
		t.Errorf("band at x %d..%d, want %.1f..%.1f: days 12 to 16 of the bars' scale", left, right+1, wantL, wantR)
	}
	ink := func(y0, y1 int) int {
		n := 0
		for y := max(y0, bounds.Min.Y); y < min(y1, bounds.Max.Y); y++ {
			for x := left; x <= right; x++ {
				if near(img.At(x, y), gapInk, 40) {
					n++
				}
			}
		}
		return n
	}
	if n := ink(top-20, top); n < 10 {
		t.Errorf("%d pixels of the gap's ink in the 20 px above the band: its label is not drawn", n)
	}
	if n := ink(top, bottom); n < 10 {
		t.Errorf("%d pixels of the gap's ink in the band: its \"not metered\" is not drawn", n)
	}
}
