package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// mixDays are sessions of every class: 2026-03-02 has 10 human, 3 bot and 2
// unclassified sessions; 2026-03-10 only bots; 2026-04-05 only unclassified
// (imported history, say); 2026-04-06 19 human and 1 bot; 2026-04-20, in a
// gap, 5 bots that no period counts. Over the covered days: 29 human, 11
// bots, 6 unclassified, 46 in all; 35 without the bots.
var mixDays = []DaySessions{
	{Day: d("2026-03-02"), Sessions: 15, Bots: 3, Unclassified: 2},
	{Day: d("2026-03-10"), Sessions: 7, Bots: 7},
	{Day: d("2026-04-05"), Sessions: 4, Unclassified: 4},
	{Day: d("2026-04-06"), Sessions: 20, Bots: 1},
	{Day: d("2026-04-20"), Sessions: 5, Bots: 5},
}

// mixInput is March and April 2026 by by with mixDays, metered from
// 2026-03-01 to 2026-04-10 (a gap from 2026-04-11 to the range's end).
func mixInput(by Granularity, mode BotMode) Input {
	return Input{From: d("2026-03-01"), To: d("2026-05-01"), By: by, Environment: "PROD", Days: mixDays,
		Coverage: coveredDays("2026-03-01", "2026-04-10"), Bots: mode}
}

func mixReport(by Granularity, mode BotMode, column bool) Report {
	r := Build(mixInput(by, mode))
	r.BotColumn = column
	return r
}

// TestBuild_BotsSplit: the parts by class of every period and the total
// are the sums of the days', and the sessions figures follow the mode:
// every session with include, human + unclassified with exclude.
func TestBuild_BotsSplit(t *testing.T) {
	wantPeriods := map[string]Classes{"2026-03": {Human: 10, Bots: 10, Unclassified: 2}, "2026-04": {Human: 19, Bots: 1, Unclassified: 4}}
	for _, tc := range []struct {
		mode  BotMode
		total uint64
		march uint64
	}{{IncludeBots, 46, 22}, {ExcludeBots, 35, 12}} {
		r := Build(mixInput(Month, tc.mode))
		if r.Bots != tc.mode || r.Total != tc.total || r.Classes != (Classes{Human: 29, Bots: 11, Unclassified: 6}) {
			t.Errorf("%v: mode %v, total %d, classes %+v; want total %d and 29 human, 11 bots, 6 unclassified", tc.mode, r.Bots, r.Total, r.Classes, tc.total)
		}
		for _, p := range r.Periods {
			if p.Classes != wantPeriods[p.Label] {
				t.Errorf("%v: %s classes %+v, want %+v", tc.mode, p.Label, p.Classes, wantPeriods[p.Label])
			}
		}
		if got := r.Periods[0].Sessions; got != tc.march {
			t.Errorf("%v: March sessions %d, want %d", tc.mode, got, tc.march)
		}
		// The day in the gap keeps its parts in the day detail.
		if got := r.Days[dayIndex(r.From, d("2026-04-20"))]; got.Covered || got.Classes.Bots != 5 || got.Sessions != 5*uint64(1-tc.mode) {
			t.Errorf("%v: 2026-04-20 detail %+v, want 5 bots, uncovered, sessions 5 with include and 0 with exclude", tc.mode, got)
		}
	}
}

// TestBuild_BotsExcludeArithmetic: with --bots exclude, every sessions
// figure equals human + unclassified and the total equals the human and
// unclassified sessions of the covered days, at every granularity and on
// the seed's history split into classes; with include, every session.
func TestBuild_BotsExcludeArithmetic(t *testing.T) {
	days, cov := readHistory(t, "testdata/seed/history.csv")
	for i := range days {
		days[i].Bots = days[i].Sessions * uint64(i%5) / 10 // 0 to 40 %
		days[i].Unclassified = (days[i].Sessions - days[i].Bots) * uint64(i%3) / 7
	}
	for _, by := range []Granularity{Month, Week, Day, Year} {
		in := Input{From: d("2023-01-01"), To: d("2024-04-02"), By: by, Days: days, Coverage: cov}
		include := Build(in)
		in.Bots = ExcludeBots
		exclude := Build(in)
		var human, bots, unclassified uint64
		for _, day := range days {
			human += day.Sessions - day.Bots - day.Unclassified
			bots += day.Bots
			unclassified += day.Unclassified
		}
		if want := (Classes{human, bots, unclassified}); exclude.Classes != want || include.Classes != want {
			t.Errorf("%v: classes %+v (include) and %+v (exclude), want %+v", by, include.Classes, exclude.Classes, want)
		}
		if include.Total != human+bots+unclassified || exclude.Total != human+unclassified {
			t.Errorf("%v: totals %d (include) and %d (exclude), want %d and %d", by, include.Total, exclude.Total, human+bots+unclassified, human+unclassified)
		}
		var sum uint64
		for i, p := range exclude.Periods {
			sum += p.Sessions
			if p.Sessions != p.Classes.Human+p.Classes.Unclassified || include.Periods[i].Sessions != p.Classes.All() {
				t.Errorf("%v %s: sessions %d (exclude), %d (include), classes %+v", by, p.Label, p.Sessions, include.Periods[i].Sessions, p.Classes)
			}
		}
		if sum != exclude.Total {
			t.Errorf("%v: the periods sum to %d, the total is %d", by, sum, exclude.Total)
		}
		for _, day := range exclude.Days {
			if day.Sessions != day.Classes.Human+day.Classes.Unclassified {
				t.Errorf("%v %s: day sessions %d, classes %+v", by, date(day.Date), day.Sessions, day.Classes)
			}
		}
	}
}

// TestBuild_BotsPartsCut: parts larger than the sessions they are part of
// are cut to them, bots first, so no class is ever negative.
func TestBuild_BotsPartsCut(t *testing.T) {
	for _, tc := range []struct {
		in   DaySessions
		want Classes
	}{
		{DaySessions{Sessions: 5, Bots: 9, Unclassified: 1}, Classes{Bots: 5}},
		{DaySessions{Sessions: 5, Bots: 2, Unclassified: 9}, Classes{Bots: 2, Unclassified: 3}},
		{DaySessions{Sessions: 5, Bots: 2, Unclassified: 1}, Classes{Human: 2, Bots: 2, Unclassified: 1}},
	} {
		if got := tc.in.classes(); got != tc.want {
			t.Errorf("%+v: classes %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseBotMode(t *testing.T) {
	for _, m := range []BotMode{IncludeBots, ExcludeBots} {
		if got, err := ParseBotMode(m.String()); err != nil || got != m {
			t.Errorf("ParseBotMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	const want = `--bots "all": want include (sessions count every session, the default) or exclude (sessions leave out those classified as bots; unclassified sessions stay in)`
	if _, err := ParseBotMode("all"); err == nil || err.Error() != want {
		t.Errorf("ParseBotMode(all) error = %v, want %s", err, want)
	}
}

// TestWrite_BotsGolden: every form of the mixed report, in both modes,
// with and without the bot column.
func TestWrite_BotsGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		by     Granularity
		mode   BotMode
		column bool
		forms  []Format
	}{
		{"include", Month, IncludeBots, false, []Format{CSV, Pretty, JSON, HTML}},
		{"exclude", Month, ExcludeBots, false, []Format{CSV, Pretty, JSON, HTML}},
		{"include-column", Month, IncludeBots, true, []Format{CSV, Pretty}},
		{"exclude-column", Month, ExcludeBots, true, []Format{CSV, Pretty}},
		{"day-exclude-column", Day, ExcludeBots, true, []Format{CSV, Pretty, JSON}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mixReport(tc.by, tc.mode, tc.column)
			for _, f := range tc.forms {
				golden(t, filepath.Join("bots", tc.name+[...]string{".csv", ".txt", ".json", ".html"}[f]), render(t, r, f))
			}
		})
	}
}

// TestWrite_BotColumnOnlyWhenAsked: without the bot column, CSV and pretty
// of a report with bots and unclassified sessions are laid out exactly as
// one without them (the seed's layout); JSON and HTML, whose layouts always
// carry the classes, are the same with and without it.
func TestWrite_BotColumnOnlyWhenAsked(t *testing.T) {
	plain := func(days []DaySessions) []DaySessions {
		out := make([]DaySessions, len(days))
		for i, d := range days {
			out[i] = DaySessions{Day: d.Day, Sessions: d.Sessions}
		}
		return out
	}
	for _, by := range []Granularity{Month, Day} {
		in := mixInput(by, IncludeBots)
		mixed := Build(in)
		in.Days = plain(in.Days)
		unsplit := Build(in)
		for _, f := range []Format{CSV, Pretty} {
			if got, want := render(t, mixed, f), render(t, unsplit, f); got != want {
				t.Errorf("%v form %d: the classes changed the layout:\n%s\nwant:\n%s", by, f, got, want)
			}
		}
		withColumn := mixed
		withColumn.BotColumn = true
		for _, f := range []Format{JSON, HTML} {
			if got, want := render(t, withColumn, f), render(t, mixed, f); got != want {
				t.Errorf("%v form %d: the bot column changed a form that always shows the classes", by, f)
			}
		}
	}
}

// TestWriteCSV_BotColumn reads the CSV back: bot_sessions is the fifth
// column whatever the granularity, empty where sessions is.
func TestWriteCSV_BotColumn(t *testing.T) {
	for _, tc := range []struct {
		by   Granularity
		rows map[string][2]string // sessions, bot_sessions
	}{
		{Month, map[string][2]string{"2026-03": {"12", "10"}, "2026-04": {"23", "1"}}},
		{Day, map[string][2]string{"2026-03-02": {"12", "3"}, "2026-03-10": {"0", "7"}, "2026-04-06": {"19", "1"}, "2026-04-20": {"", ""}, "2026-04-01": {"0", "0"}}},
	} {
		out := render(t, mixReport(tc.by, ExcludeBots, true), CSV)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if cols := strings.Split(lines[0], ","); len(cols) < 5 || cols[4] != "bot_sessions" {
			t.Errorf("%v: header %q, want bot_sessions fifth", tc.by, lines[0])
		}
		seen := 0
		for _, line := range lines[1:] {
			cols := strings.Split(line, ",")
			if want, ok := tc.rows[cols[0]]; ok {
				seen++
				if cols[1] != want[0] || cols[4] != want[1] {
					t.Errorf("%v: row %q, want sessions %q and bot_sessions %q", tc.by, line, want[0], want[1])
				}
			}
		}
		if seen != len(tc.rows) {
			t.Errorf("%v: %d of the %d rows checked found", tc.by, seen, len(tc.rows))
		}
	}
}

// TestWritePretty_ExcludeFooter: with --bots exclude, the lines after the
// total say how many bot sessions were left out and how many unclassified
// sessions were kept, each only when not 0.
func TestWritePretty_ExcludeFooter(t *testing.T) {
	const bots, kept = "Bot sessions left out (--bots exclude): ", "Unclassified sessions counted (--bots exclude keeps them): "
	for _, tc := range []struct {
		name string
		days []DaySessions
		want []string
	}{
		{"both", mixDays, []string{bots + "11", kept + "6"}},
		{"no unclassified", []DaySessions{{Day: d("2026-03-02"), Sessions: 15, Bots: 3}}, []string{bots + "3"}},
		{"no bots", []DaySessions{{Day: d("2026-03-02"), Sessions: 15, Unclassified: 2}}, []string{kept + "2"}},
		{"neither", []DaySessions{{Day: d("2026-03-02"), Sessions: 15}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := mixInput(Month, ExcludeBots)
			in.Days = tc.days
			out := render(t, Build(in), Pretty)
			_, footer, _ := strings.Cut(out, "Total session usage: ")
			lines := strings.Split(footer, "\n")
			got := lines[1 : len(lines)-2] // after the total, before the rule
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("lines after the total %q, want %q\n%s", got, tc.want, out)
			}
		})
	}
}

// TestWriteJSON_Bots reads the JSON back: the mode, the totals by class,
// and per period and per day the parts, null where sessions is.
func TestWriteJSON_Bots(t *testing.T) {
	type classes struct {
		Sessions, Human, Bots, Unclassified *uint64
	}
	var doc struct {
		Bots              string
		TotalSessions     uint64 `json:"total_sessions"`
		TotalHuman        uint64 `json:"total_human_sessions"`
		TotalBots         uint64 `json:"total_bot_sessions"`
		TotalUnclassified uint64 `json:"total_unclassified_sessions"`
		Periods, Days     []map[string]any
	}
	for _, tc := range []struct {
		mode  BotMode
		total uint64
	}{{IncludeBots, 46}, {ExcludeBots, 35}} {
		if err := json.Unmarshal([]byte(render(t, mixReport(Day, tc.mode, false), JSON)), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Bots != tc.mode.String() || doc.TotalSessions != tc.total || doc.TotalHuman != 29 || doc.TotalBots != 11 || doc.TotalUnclassified != 6 {
			t.Errorf("%v: bots %q, totals %d = %d human, %d bots, %d unclassified", tc.mode, doc.Bots, doc.TotalSessions, doc.TotalHuman, doc.TotalBots, doc.TotalUnclassified)
		}
		field := func(m map[string]any, k string) string { return strconv.Quote(jsonText(m[k])) }
		for _, p := range doc.Periods {
			if p["period"] == "2026-03-02" {
				got := field(p, "sessions") + field(p, "human_sessions") + field(p, "bot_sessions") + field(p, "unclassified_sessions")
				want := map[BotMode]string{IncludeBots: `"15""10""3""2"`, ExcludeBots: `"12""10""3""2"`}[tc.mode]
				if got != want {
					t.Errorf("%v: period 2026-03-02 %s, want %s", tc.mode, got, want)
				}
			}
			if p["period"] == "2026-04-20" && field(p, "sessions")+field(p, "bot_sessions") != `"null""null"` {
				t.Errorf("%v: uncovered period %v, want null sessions and parts", tc.mode, p)
			}
		}
		for _, day := range doc.Days {
			// The day in the gap is not metered: its sessions and parts are
			// null, as its period's, though 5 bot sessions are stored on it.
			if day["date"] == "2026-04-20" {
				got := field(day, "sessions") + field(day, "human_sessions") + field(day, "bot_sessions") + field(day, "unclassified_sessions")
				if want := `"null""null""null""null"`; got != want {
					t.Errorf("%v: day 2026-04-20 %s, want %s", tc.mode, got, want)
				}
			}
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var (
	reClassCell = regexp.MustCompile(`<td class="num (human|bots|unclassified)">`)
	reClassData = regexp.MustCompile(`<data id="(human|bot|unclassified)-sessions" value="([^"]*)">`)
	reBotsMode  = regexp.MustCompile(`id="bots-mode" data-bots="([^"]*)">([^<]*)<`)
	reClassBar  = regexp.MustCompile(`(?s)<svg class="class-bar"[^>]*aria-label="([^"]*)"[^>]*>(.*?)</svg>`)
	reClassRect = regexp.MustCompile(`<rect class="(human|bots|unclassified)" x="([^"]*)" y="0" width="([^"]*)"`)
)

// checkHTMLClasses checks that page (as written, or as a browser's DOM)
// shows r's sessions by class: each row's three cells, the totals, the
// stacked bar's parts and its accessible name, and the mode.
func checkHTMLClasses(t *testing.T, page string, r Report) {
	t.Helper()
	rows := reRow.FindAllStringSubmatch(page, -1)
	if len(rows) != len(r.Periods) {
		t.Fatalf("%d rows, want %d", len(rows), len(r.Periods))
	}
	for i, m := range rows {
		p := r.Periods[i]
		want := "human=|bots=|unclassified="
		if p.Covered() {
			want = "human=" + strconv.FormatUint(p.Classes.Human, 10) + "|bots=" + strconv.FormatUint(p.Classes.Bots, 10) + "|unclassified=" + strconv.FormatUint(p.Classes.Unclassified, 10)
		}
		var got []string
		for _, c := range reClassCell.FindAllStringSubmatch(m[2], -1) {
			got = append(got, c[1]+"="+numberCell(t, m[2], c[1]))
		}
		if strings.Join(got, "|") != want {
			t.Errorf("row %s: %q, want %q", p.Label, got, want)
		}
	}
	var totals []string
	for _, m := range reClassData.FindAllStringSubmatch(page, -1) {
		totals = append(totals, m[1]+"="+m[2])
	}
	c := r.Classes
	if want := "human=" + strconv.FormatUint(c.Human, 10) + "|bot=" + strconv.FormatUint(c.Bots, 10) + "|unclassified=" + strconv.FormatUint(c.Unclassified, 10); strings.Join(totals, "|") != want {
		t.Errorf("totals by class %q, want %q", totals, want)
	}
	if m := reBotsMode.FindStringSubmatch(page); m == nil || m[1] != r.Bots.String() {
		t.Errorf("no id=bots-mode with data-bots=%q", r.Bots.String())
	}
	bar := reClassBar.FindStringSubmatch(page)
	if bar == nil {
		t.Fatal("no stacked bar of the classes")
	}
	if c.All() > 0 {
		share := func(n uint64) float64 { return 100 * float64(n) / float64(c.All()) }
		wantX := []float64{0, share(c.Human), share(c.Human) + share(c.Bots)}
		wantW := []float64{share(c.Human), share(c.Bots), share(c.Unclassified)}
		rects := reClassRect.FindAllStringSubmatch(bar[2], -1)
		if len(rects) != 3 {
			t.Fatalf("stacked bar has %d parts, want 3", len(rects))
		}
		for i, m := range rects {
			x, _ := strconv.ParseFloat(m[2], 64)
			w, _ := strconv.ParseFloat(m[3], 64)
			if diff(x, wantX[i]) > 0.01 || diff(w, wantW[i]) > 0.01 {
				t.Errorf("bar part %s at %v width %v, want %v width %v", m[1], x, w, wantX[i], wantW[i])
			}
		}
		for _, n := range []uint64{c.Human, c.Bots, c.Unclassified, c.All()} {
			if !strings.Contains(bar[1], groupThousands(n)+" ") {
				t.Errorf("the bar's accessible name %q lacks %d", bar[1], n)
			}
		}
	}
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestWriteHTML_Bots: the page shows the classes in both modes and says
// which one its sessions figures follow; the rows still match the CSV.
func TestWriteHTML_Bots(t *testing.T) {
	for _, tc := range []struct {
		mode BotMode
		text string
	}{
		{IncludeBots, "The sessions figures of this report count every session, bots included (export --bots include, the default)."},
		{ExcludeBots, "The sessions figures of this report leave out the 11 sessions classified as bots (export --bots exclude). They keep the 6 unclassified sessions, which cannot be told from people's."},
	} {
		for _, by := range []Granularity{Month, Day} {
			r := mixReport(by, tc.mode, false)
			page := MustWriteHTML(t, r)
			checkHTMLAgainstCSV(t, page, r)
			checkHTMLClasses(t, page, r)
			if !strings.Contains(page, tc.text) {
				t.Errorf("%v %v: the page does not say %q", tc.mode, by, tc.text)
			}
		}
	}
	// No session at all: a bar with nothing to split, and no NaN.
	r := Build(Input{From: d("2026-03-01"), To: d("2026-03-05"), Coverage: coveredDays("2026-03-01", "2026-03-04"), Bots: ExcludeBots})
	page := MustWriteHTML(t, r)
	checkHTMLClasses(t, page, r)
	if strings.Contains(page, "NaN") || !strings.Contains(page, `aria-label="No sessions in the metered days of the range"`) {
		t.Errorf("an empty report's bar of classes is wrong:\n%s", reClassBar.FindString(page))
	}
}

// TestWriteHTML_BotsChromium: the DOM a real browser builds from the mixed
// report in --bots exclude carries the classes, with no console error.
func TestWriteHTML_BotsChromium(t *testing.T) {
	bin := chromiumBinary(t)
	r := mixReport(Month, ExcludeBots, false)
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, []byte(MustWriteHTML(t, r)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, stderr := runChromium(t, bin, "--dump-dom", "file://"+file)
	checkHTMLAgainstCSV(t, dom, r)
	checkHTMLClasses(t, dom, r)
	if errs := consoleErrors(stderr); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestReadme_BotsExample: the README's example of --bots exclude
// --bot-column in the pretty form is this package's output for the days it
// describes.
func TestReadme_BotsExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "`--bots exclude --bot-column --pretty` prints:\n\n```\n")
	example, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no example after \"`--bots exclude --bot-column --pretty` prints:\"")
	}
	r := Build(Input{From: d("2026-03-01"), To: d("2026-05-01"), By: Month, Environment: "PROD", Bots: ExcludeBots,
		Days:     []DaySessions{{Day: d("2026-03-02"), Sessions: 15, Bots: 3, Unclassified: 2}, {Day: d("2026-04-07"), Sessions: 1, Bots: 1}},
		Coverage: coveredDays("2026-03-01", "2026-04-30")})
	r.BotColumn = true
	if got := render(t, r, Pretty); got != example {
		t.Errorf("README.md's example:\n%s\nthe report prints:\n%s", example, got)
	}
}
