package report

import (
	"bytes"
	"html/template"
	"io"
	"strconv"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML5 page: a headline
// with the total, an inline SVG bar chart of sessions per period with the gaps
// in coverage shaded, a table with the CSV's rows, the gaps in the pretty
// form's words and the total. A report of at most three periods (a month,
// say) has its chart drawn by day, so that a gap inside a period shows where
// it falls; its table stays by period.
//
// The page loads nothing (no scripts, stylesheets, fonts, images or URLs), so
// it opens on an air-gapped machine, and prints on A4. It holds only numbers,
// dates and the environment name, which is escaped. The same report always
// gives the same bytes.
//
// The markup is machine-checkable against the CSV: each table row is
// <tr data-period="LABEL"> with <td class="sessions"> and <td class="gaps">
// holding the CSV's cells, every figure of the table as <data value="N">
// (the CSV's digits) around the text shown, which has commas between
// thousands as the summary cards have; id="total" holds the plain total;
// <svg id="chart"> says by data-by what a bar is (the granularity, or day)
// and holds one <rect class="bar" data-period data-sessions> per covered
// period (or day) and one <rect class="gap"> per gap.
//
// The sessions by class are always there, whatever r.BotColumn: each row's
// <td class="human">, <td class="bots"> and <td class="unclassified"> (empty
// where sessions is), the totals' <data id="human-sessions">,
// id="bot-sessions" and id="unclassified-sessions", a stacked bar of the
// three, and id="bots-mode" saying whether the sessions figures count the
// bots (data-bots="include" or "exclude").
func WriteHTML(w io.Writer, r Report) error {
	var b bytes.Buffer
	if err := htmlPage.Execute(&b, newHTMLView(r)); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// htmlView is what the page template prints; every number is already text.
type htmlView struct {
	Environment string
	First, Last string // the first and last day of the range, inclusive
	To          string // the day after the range, as given to export
	Days        int
	By          string // month, week, day, year
	ByTitle     string // Month, Week, …
	DayColumns  bool

	Total, TotalGrouped string
	TotalNumber         *htmlNumber
	CoveredDays         int
	CoveredShare        string // "75.5"
	GapDays             int
	Peak                *htmlPeak

	Chart htmlChart
	Rows  []htmlRow
	Gaps  []htmlGap

	Consumption *htmlConsumption
	EndsAtToday string // today, when the range reaches past it

	Bots    string // include or exclude
	Classes htmlClasses
}

// htmlClasses is the report's sessions by class, for the stacked bar, its
// legend and the table's totals.
type htmlClasses struct {
	Human, Bots, Unclassified, All                 string
	HumanGrouped, BotsGrouped, UnclassifiedGrouped string // with commas between thousands
	HumanNumber, BotsNumber, UnclassifiedNumber    *htmlNumber
	HumanShare, BotShare, UnclassifiedShare        string // percent of All, one decimal
	HumanWidth, BotWidth, UnclassifiedWidth        string // the bar's parts, in viewBox units of 100
	BotX, UnclassifiedX                            string
	Label                                          string // the bar's accessible name: every number in words
	Exclude                                        bool
	Empty                                          bool // no session at all
}

type htmlConsumption struct {
	License, Deployment, YearStart, YearLast string
	Entitled, Used, Percent, Rate, RunsOut   string // Rate: a sentence on the last 30 days' daily rate
	Bar                                      string // width of the used part, percent of the bar, at most 100
}

type htmlPeak struct{ Label, Sessions string }

type htmlRow struct {
	Label, Gaps, Coverage     string
	Sessions                  *htmlNumber
	Human, Bots, Unclassified *htmlNumber // nil where Sessions is
	NotMetered                bool
	CoveredHours              string
	PeakLive, AvgLive         *htmlNumber
}

// htmlNumber is a table figure: Value as the CSV writes it, in the
// <data value> attribute, and Text as shown, with commas between thousands
// as in the summary cards.
type htmlNumber struct{ Value, Text string }

func newHTMLNumber(v uint64) *htmlNumber {
	return &htmlNumber{strconv.FormatUint(v, 10), groupThousands(v)}
}

// newHTMLAverage is an average as the CSV writes it (two decimals), shown
// with commas between the thousands of its whole part.
func newHTMLAverage(v float64) *htmlNumber {
	s := formatAverage(v)
	whole, frac, _ := strings.Cut(s, ".")
	if n, err := strconv.ParseUint(whole, 10, 64); err == nil {
		return &htmlNumber{s, groupThousands(n) + "." + frac}
	}
	return &htmlNumber{s, s}
}

type htmlGap struct {
	Pretty      string // Gap between P and N: D day(s)
	First, Last string
}

// htmlChart is the SVG chart, in viewBox units.
type htmlChart struct {
	By                                   string // what a bar is: the report's period, or day
	Caption                              string // why the chart is by day when the table is not
	Width, Height                        string
	Left, Right, Top, Bottom, MidY, MidX string
	Title                                string
	YTitle, XTitle                       string
	XTitleY, YTitleX                     string
	YTicks                               []htmlTick
	Bars                                 []htmlBar
	Gaps                                 []htmlBox
	GapLabels                            []htmlText
	NotMetered                           []htmlText
	XLabels                              []htmlText
	Values                               []htmlText // each bar's sessions, when every bar has room
	Empty                                bool
}

type htmlTick struct{ Y, Label string }

type htmlBar struct {
	X, Y, W, H string
	Label      string
	Sessions   uint64
	Title      string
}

type htmlBox struct{ X, Y, W, H, Title string }

type htmlText struct {
	X, Y, Text string
	Rotate     bool // read upwards, for a "not metered" mark in a narrow period
	Inside     bool // a bar's value written inside its top, in white
}

func newHTMLView(r Report) htmlView {
	n := len(r.Days)
	v := htmlView{
		Environment:  r.Environment,
		First:        date(r.From),
		Last:         date(r.To.AddDate(0, 0, -1)),
		To:           date(r.RangeTo),
		Days:         n,
		By:           r.By.String(),
		ByTitle:      strings.ToUpper(r.By.String()[:1]) + r.By.String()[1:],
		DayColumns:   r.By == Day,
		Total:        strconv.FormatUint(r.Total, 10),
		Consumption:  newHTMLConsumption(r.Consumption),
		TotalGrouped: groupThousands(r.Total),
		TotalNumber:  newHTMLNumber(r.Total),
	}
	if !r.EndsAtToday.IsZero() {
		v.EndsAtToday = date(r.EndsAtToday)
	}
	for _, d := range r.Days {
		if d.Covered {
			v.CoveredDays++
		}
	}
	if n > 0 {
		v.CoveredShare = strconv.FormatFloat(100*float64(v.CoveredDays)/float64(n), 'f', 1, 64)
	}
	var peak *Period
	for i, p := range r.Periods {
		if p.Covered() && p.Sessions > 0 && (peak == nil || p.Sessions > peak.Sessions) {
			peak = &r.Periods[i]
		}
	}
	if peak != nil {
		v.Peak = &htmlPeak{peak.Label, groupThousands(peak.Sessions)}
	}
	for _, p := range r.Periods {
		row := htmlRow{Label: p.Label, Gaps: gapsText(p.Gaps), NotMetered: !p.Covered()}
		if p.Covered() {
			row.Sessions = newHTMLNumber(p.Sessions)
			row.Human = newHTMLNumber(p.Classes.Human)
			row.Bots = newHTMLNumber(p.Classes.Bots)
			row.Unclassified = newHTMLNumber(p.Classes.Unclassified)
		}
		inRange := periodDays(r, p)
		switch {
		case !p.Covered():
			row.Coverage = "not metered"
		case p.CoveredDays == inRange:
			row.Coverage = "all " + plural(inRange, "day")
		default:
			row.Coverage = strconv.Itoa(p.CoveredDays) + " of " + plural(inRange, "day")
		}
		if r.By == Day {
			d := r.Days[dayIndex(r.From, maxTime(p.Start, r.From))]
			if d.Covered {
				row.Coverage = "metered"
			}
			row.CoveredHours = strconv.Itoa(d.CoveredHours)
			row.PeakLive = newHTMLNumber(d.Peak)
			row.AvgLive = newHTMLAverage(d.Average)
		}
		v.Rows = append(v.Rows, row)
	}
	for _, g := range r.Gaps {
		v.GapDays += g.Days
		v.Gaps = append(v.Gaps, htmlGap{
			Pretty: "Gap between " + date(g.Prev) + " and " + date(g.Next) + ": " + strconv.Itoa(g.Days) + " day(s)",
			First:  date(g.First), Last: date(g.Last),
		})
	}
	v.Chart = newHTMLChart(r, v)
	v.Bots = r.Bots.String()
	v.Classes = newHTMLClasses(r.Classes, r.Bots)
	return v
}

// newHTMLClasses lays out the sessions by class: the numbers, their shares
// and the stacked bar's parts.
func newHTMLClasses(c Classes, mode BotMode) htmlClasses {
	all := c.All()
	h := htmlClasses{
		Human: strconv.FormatUint(c.Human, 10), Bots: strconv.FormatUint(c.Bots, 10),
		Unclassified: strconv.FormatUint(c.Unclassified, 10), All: strconv.FormatUint(all, 10),
		HumanGrouped: groupThousands(c.Human), BotsGrouped: groupThousands(c.Bots), UnclassifiedGrouped: groupThousands(c.Unclassified),
		HumanNumber: newHTMLNumber(c.Human), BotsNumber: newHTMLNumber(c.Bots), UnclassifiedNumber: newHTMLNumber(c.Unclassified),
		Exclude: mode == ExcludeBots, Empty: all == 0,
	}
	share := func(n uint64) float64 {
		if all == 0 {
			return 0
		}
		return 100 * float64(n) / float64(all)
	}
	hs, bs, us := share(c.Human), share(c.Bots), share(c.Unclassified)
	pct := func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
	h.HumanShare, h.BotShare, h.UnclassifiedShare = pct(hs), pct(bs), pct(us)
	h.HumanWidth, h.BotWidth, h.UnclassifiedWidth = num(hs), num(bs), num(us)
	h.BotX, h.UnclassifiedX = num(hs), num(hs+bs)
	if h.Empty {
		h.Label = "No sessions in the metered days of the range"
	} else {
		h.Label = "Of " + groupThousands(all) + " sessions: " + groupThousands(c.Human) + " human (" + h.HumanShare + " %), " +
			groupThousands(c.Bots) + " bots (" + h.BotShare + " %), " + groupThousands(c.Unclassified) + " unclassified (" + h.UnclassifiedShare + " %)"
	}
	return h
}

// Chart geometry, in viewBox units. The SVG scales to the page's width
// (about 1040 px on a 1280 px window, 680 px on A4), so text stays legible.
const (
	chartWidth     = 1000.0
	chartLeft      = 64.0  // room for the y scale and its title
	chartRight     = 14.0  // room for the last x label's overhang
	chartPlotH     = 300.0 // height of the bars' area
	chartStrip     = 6.0   // the gaps reach below the axis by this much, so they show under bars
	chartBottom    = 50.0  // x labels and the x title
	chartFont      = 11.0  // font size of the chart's text
	chartCharW     = 0.62 * chartFont
	chartLabelRows = 3 // gap labels stagger over this many rows above the plot
	chartRowH      = 15.0
)

// chartDaysUpTo is the most periods a report may have for its chart to
// draw days instead: one bar for a month would hide where in it a gap falls.
const chartDaysUpTo = 3

// chartUnit is one slot of the chart: a period, or a day when the chart
// draws days.
type chartUnit struct {
	label       string
	first, days int // index in r.Days of its first day in the range, how many
	covered     bool
	sessions    uint64
}

// chartUnits returns what the chart draws: the report's periods, or its
// days when there are at most chartDaysUpTo periods of more than a day.
func chartUnits(r Report) (units []chartUnit, byDay bool) {
	if r.By != Day && len(r.Periods) <= chartDaysUpTo {
		for i, d := range r.Days {
			units = append(units, chartUnit{label: date(d.Date), first: i, days: 1, covered: d.Covered, sessions: d.Sessions})
		}
		return units, true
	}
	for _, p := range r.Periods {
		units = append(units, chartUnit{label: p.Label, first: dayIndex(r.From, maxTime(p.Start, r.From)), days: periodDays(r, p), covered: p.Covered(), sessions: p.Sessions})
	}
	return units, r.By == Day
}

func newHTMLChart(r Report, v htmlView) htmlChart {
	n := len(r.Days)
	plotW := chartWidth - chartLeft - chartRight
	x := func(i int) float64 { return chartLeft + plotW*float64(i)/float64(max(n, 1)) }
	units, byDay := chartUnits(r)
	by, byTitle := v.By, v.ByTitle
	if byDay {
		by, byTitle = "day", "Day"
	}
	c := htmlChart{
		By:     by,
		Title:  "Sessions per " + by + ", " + v.First + " to " + v.Last + " (UTC)",
		YTitle: "Sessions per " + by,
		XTitle: byTitle + " (UTC)",
	}
	if by == "week" {
		c.XTitle = "Week, starting Sunday (UTC)"
	}
	if by != v.By {
		c.Caption = "Drawn by day, so that a gap shows where it falls; the table below is by " + v.By + "."
	}

	// Gap labels first: how many rows they need sets the plot's top.
	type placed struct {
		x, w float64
		row  int
		text string
	}
	var labels []placed
	rowEnd := [chartLabelRows]float64{}
	for i := range rowEnd {
		rowEnd[i] = -1e9
	}
	rows := 0
	for _, g := range r.Gaps {
		a, b := dayIndex(r.From, g.First), dayIndex(r.From, g.Last)+1
		text := "gap " + strconv.Itoa(g.Days) + " d"
		w := float64(len(text)) * chartCharW
		cx := clamp((x(a)+x(b))/2, chartLeft+w/2, chartWidth-chartRight-w/2)
		for row := range rowEnd {
			if cx-w/2 >= rowEnd[row]+6 {
				rowEnd[row] = cx + w/2
				labels = append(labels, placed{cx, w, row, text})
				rows = max(rows, row+1)
				break
			}
		}
	}
	top := 14.0 + float64(rows)*chartRowH
	bottom := top + chartPlotH
	height := bottom + chartStrip + chartBottom
	c.Width, c.Height = num(chartWidth), num(height)
	c.Left, c.Right, c.Top, c.Bottom = num(chartLeft), num(chartWidth-chartRight), num(top), num(bottom)
	c.MidX, c.MidY = num(chartLeft+plotW/2), num(top+chartPlotH/2)
	c.XTitleY, c.YTitleX = num(height-8), num(16)
	for _, l := range labels {
		// Row 0 sits just above the plot; later rows stack upwards.
		c.GapLabels = append(c.GapLabels, htmlText{X: num(l.x), Y: num(top - 6 - float64(l.row)*chartRowH), Text: l.text})
	}
	for _, g := range r.Gaps {
		a, b := dayIndex(r.From, g.First), dayIndex(r.From, g.Last)+1
		title := "Not metered: " + date(g.First) + " to " + date(g.Last) + " (" + plural(g.Days, "day") + ")"
		c.Gaps = append(c.Gaps, htmlBox{X: num(x(a)), Y: num(top), W: num(x(b) - x(a)), H: num(chartPlotH + chartStrip), Title: title})
	}

	// The y scale: round steps of 1, 2 or 5 times a power of ten.
	var most uint64
	covered := false
	for _, u := range units {
		if u.covered {
			covered = true
			most = max(most, u.sessions)
		}
	}
	c.Empty = !covered
	step := niceStep(most)
	ceiling := step * max((most+step-1)/step, 1)
	y := func(s uint64) float64 { return chartPlotH * float64(s) / float64(ceiling) }
	for t := uint64(0); t <= ceiling; t += step {
		c.YTicks = append(c.YTicks, htmlTick{Y: num(bottom - y(t)), Label: compactNumber(t)})
	}

	// "Not metered" marks: one per uncovered period, or, drawing days, one
	// per gap.
	notMetered := func(x0, x1 float64) {
		const text = "not metered"
		tw := float64(len(text)) * chartCharW
		w, cx := x1-x0, (x0+x1)/2
		switch {
		case w >= tw+8:
			c.NotMetered = append(c.NotMetered, htmlText{X: num(cx), Y: num(bottom - 8), Text: text})
		case w >= chartFont+3:
			c.NotMetered = append(c.NotMetered, htmlText{X: num(cx + chartFont*0.35), Y: num(bottom - 6), Text: text, Rotate: true})
		}
	}
	if byDay {
		for _, g := range r.Gaps {
			notMetered(x(dayIndex(r.From, g.First)), x(dayIndex(r.From, g.Last)+1))
		}
	}

	// Bars and x labels, each over its days in the range.
	lastLabelEnd := -1e9
	valuesFit := true
	for _, u := range units {
		x0, x1 := x(u.first), x(u.first+u.days)
		w := x1 - x0
		cx := (x0 + x1) / 2
		if u.covered {
			pad := 0.0
			if w >= 3 {
				pad = min(w*0.12, 10)
			}
			h := y(u.sessions)
			if u.sessions > 0 && h < 1 {
				h = 1 // visible, however small
			}
			c.Bars = append(c.Bars, htmlBar{
				X: num(x0 + pad), Y: num(bottom - h), W: num(w - 2*pad), H: num(h),
				Label: u.label, Sessions: u.sessions,
				Title: u.label + ": " + groupThousands(u.sessions) + " sessions",
			})
			text := shortNumber(u.sessions)
			valuesFit = valuesFit && float64(len(text))*chartCharW <= w-2
			vy := bottom - h - 5
			if vy < top+chartFont {
				vy = bottom - h + chartFont + 4 // no room above the bar: write inside its top
			}
			c.Values = append(c.Values, htmlText{X: num(cx), Y: num(vy), Text: text, Inside: vy > bottom-h})
		} else if !byDay {
			notMetered(x0, x1)
		}
		lw := float64(len(u.label)) * chartCharW
		lx := clamp(cx, chartLeft+lw/2-chartLeft/2, chartWidth-lw/2)
		if lx-lw/2 >= lastLabelEnd+10 {
			c.XLabels = append(c.XLabels, htmlText{X: num(lx), Y: num(bottom + chartStrip + 14), Text: u.label})
			lastLabelEnd = lx + lw/2
		}
	}
	if !valuesFit {
		c.Values = nil
	}
	return c
}

// periodDays returns how many of p's days lie in r's range.
func periodDays(r Report, p Period) int {
	return dayIndex(maxTime(p.Start, r.From), minTime(p.End, r.To))
}

// niceStep returns the y scale's step for a largest value most: the smallest
// 1, 2 or 5 times a power of ten that divides it into at most five intervals.
func niceStep(most uint64) uint64 {
	need := max((most+4)/5, 1)
	for mag := uint64(1); ; mag *= 10 {
		for _, m := range []uint64{1, 2, 5} {
			if m*mag >= need {
				return m * mag
			}
		}
		if mag > ^uint64(0)/100 {
			return need
		}
	}
}

// compactNumber writes a scale value short: 0, 500, 1.5k, 4M, 2B.
func compactNumber(v uint64) string {
	for _, u := range []struct {
		size   float64
		suffix string
	}{{1e9, "B"}, {1e6, "M"}, {1e3, "k"}} {
		if float64(v) >= u.size {
			return num(float64(v)/u.size) + u.suffix
		}
	}
	return strconv.FormatUint(v, 10)
}

// shortNumber writes a bar's value to three significant digits: 42, 10.1k,
// 3.69M. The table holds the exact figures.
func shortNumber(v uint64) string {
	if v < 1000 {
		return strconv.FormatUint(v, 10)
	}
	units := []struct {
		size   float64
		suffix string
	}{{1e3, "k"}, {1e6, "M"}, {1e9, "B"}}
	for i := 0; i < len(units); i++ {
		x := float64(v) / units[i].size
		decimals := 0
		switch {
		case x < 9.995:
			decimals = 2
		case x < 99.95:
			decimals = 1
		case x >= 999.5 && i+1 < len(units):
			continue
		}
		s := strconv.FormatFloat(x, 'f', decimals, 64)
		if decimals > 0 {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s + units[i].suffix
	}
	return strconv.FormatUint(v, 10) // not reached
}

// groupThousands writes v with commas between groups of three digits.
func groupThousands(v uint64) string {
	s := strconv.FormatUint(v, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// num writes a coordinate with at most two decimals and no trailing zeros.
func num(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

func clamp(v, lo, hi float64) float64 {
	if hi < lo {
		return (lo + hi) / 2
	}
	return min(max(v, lo), hi)
}

var htmlPage = template.Must(template.New("report").Parse(htmlSource))

const htmlSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="headcount">
<title>Session usage — {{.Environment}} — {{.First}} to {{.Last}} (UTC)</title>
<style>
:root {
  --ink: #111827; --text: #374151; --muted: #6b7280; --line: #e5e7eb; --soft: #f9fafb;
  --accent: #2563eb; --gap: #fde7c0; --gap-edge: #f0b35a; --gap-ink: #8a4b08;
  --human: #2563eb; --bots: #b45309; --unclassified: #6b7280;
  color-scheme: light;
}
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body {
  margin: 0; background: #eef0f3; color: var(--text);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif;
}
main { max-width: 1120px; margin: 32px auto; padding: 40px 48px 32px; background: #fff; border-radius: 10px; box-shadow: 0 1px 3px rgba(17, 24, 39, .08), 0 8px 24px rgba(17, 24, 39, .04); }
h1, h2 { color: var(--ink); line-height: 1.25; }
h1 { font-size: 28px; margin: 2px 0 6px; font-weight: 700; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 36px 0 12px; font-weight: 650; }
.eyebrow { margin: 0; color: var(--accent); font-size: 12px; font-weight: 650; letter-spacing: .08em; text-transform: uppercase; }
.range { margin: 0; color: var(--muted); }
.range strong { color: var(--text); font-weight: 600; }
.cards { display: grid; grid-template-columns: 1.4fr 1fr 1fr 1fr; gap: 14px; margin: 28px 0 8px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; }
.card .label { font-size: 13px; color: var(--muted); }
.card .value { font-size: 24px; font-weight: 650; color: var(--ink); font-variant-numeric: tabular-nums; line-height: 1.3; margin-top: 2px; }
.card .note { font-size: 13px; color: var(--muted); }
.card.total { background: #eff5ff; border-color: #cfe0fd; }
.card.total .value { font-size: 32px; color: #1d4ed8; }
figure { margin: 0; }
.legend { display: flex; gap: 20px; font-size: 13px; color: var(--muted); margin: 0 0 6px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; margin-right: 6px; }
.swatch.bar { background: var(--accent); }
.swatch.gap { background: var(--gap); border: 1px solid var(--gap-edge); }
#chart { display: block; width: 100%; height: auto; }
#chart text { font-size: 11px; fill: var(--muted); font-family: inherit; }
#chart .axis-title { font-size: 12px; fill: var(--text); font-weight: 600; }
#chart .grid { stroke: var(--line); stroke-width: 1; }
#chart .axis { stroke: #9ca3af; stroke-width: 1; }
#chart .bar { fill: var(--accent); }
#chart .gap { fill: var(--gap); }
#chart .gap-label, #chart .not-metered { fill: var(--gap-ink); }
#chart .gap-label { font-weight: 600; }
#chart .value { fill: var(--text); font-weight: 600; }
#chart .value.inside { fill: #fff; }
#chart .empty { font-size: 14px; fill: var(--gap-ink); }
.chart-by { margin: 4px 0 0; font-size: 13px; color: var(--muted); }
table { width: 100%; border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 7px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { color: var(--muted); font-size: 12px; font-weight: 650; text-transform: uppercase; letter-spacing: .04em; border-bottom: 2px solid var(--line); }
th.num, td.num, td.sessions { text-align: right; }
td.sessions { color: var(--ink); font-weight: 600; }
td.gaps { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; overflow-wrap: anywhere; color: var(--gap-ink); }
td.coverage { color: var(--muted); }
tbody tr:nth-child(even) { background: var(--soft); }
tr.not-metered td.coverage { color: var(--gap-ink); font-style: italic; }
tfoot td { border-top: 2px solid var(--line); border-bottom: 0; font-weight: 650; color: var(--ink); }
.gaps-list { margin: 0; padding-left: 20px; }
.gaps-list li { margin: 3px 0; }
.gaps-list .detail { color: var(--muted); font-size: 13px; white-space: nowrap; }
.none { color: var(--muted); margin: 0; }
.classes { margin: 20px 0 0; padding: 14px 18px; border: 1px solid var(--line); border-radius: 8px; }
.classes h2 { margin: 0 0 8px; }
.class-bar { display: block; width: 100%; height: 14px; border-radius: 3px; }
.class-bar .human { fill: var(--human); }
.class-bar .bots { fill: var(--bots); }
.class-bar .unclassified { fill: var(--unclassified); }
.class-bar .empty { fill: var(--line); }
.class-legend { display: flex; flex-wrap: wrap; gap: 6px 28px; list-style: none; margin: 10px 0 6px; padding: 0; color: var(--text); }
.class-legend data { font-weight: 650; color: var(--ink); font-variant-numeric: tabular-nums; }
.class-legend .share { color: var(--muted); }
.swatch.human { background: var(--human); }
.swatch.bots { background: var(--bots); }
.swatch.unclassified { background: var(--unclassified); }
.bots-mode { margin: 0; font-size: 13.5px; color: var(--muted); }
.total-line { margin: 28px 0 0; padding: 14px 18px; background: var(--soft); border-radius: 8px; font-size: 16px; color: var(--ink); }
.total-line strong { font-variant-numeric: tabular-nums; }
footer { margin-top: 28px; padding-top: 14px; border-top: 1px solid var(--line); font-size: 12.5px; color: var(--muted); }
footer p { margin: 4px 0; }
@media (max-width: 820px) {
  main { margin: 0; padding: 24px 18px; border-radius: 0; }
  .cards { grid-template-columns: 1fr 1fr; }
}
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { background: #fff; font-size: 10pt; }
  main { max-width: none; margin: 0; padding: 0; box-shadow: none; border-radius: 0; }
  .cards { grid-template-columns: 1.4fr 1fr 1fr 1fr; gap: 8px; }
  .card { padding: 8px 10px; }
  .card .value { font-size: 16pt; }
  .card.total .value { font-size: 19pt; }
  figure, .total-line, tr, li { break-inside: avoid; }
  h2 { break-after: avoid; }
  thead { display: table-header-group; }
  table { font-size: 9pt; }
  th, td { padding: 4px 8px; }
}
</style>
</head>
<body>
<main>
<header>
<p class="eyebrow">headcount · session usage report</p>
<h1>{{.Environment}}</h1>
<p class="range"><strong>{{.First}} to {{.Last}}</strong> · UTC · {{.Days}} day{{if ne .Days 1}}s{{end}} · by {{.By}}</p>
</header>

<section class="cards" aria-label="Summary">
<div class="card total"><div class="label">Total sessions</div><div class="value"><data value="{{.Total}}">{{.TotalGrouped}}</data></div><div class="note">over the metered days{{if .Classes.Exclude}}, bots left out{{end}}</div></div>
<div class="card"><div class="label">Days metered</div><div class="value">{{.CoveredDays}} of {{.Days}}</div><div class="note">{{.CoveredShare}} % of the range</div></div>
<div class="card"><div class="label">Gaps in coverage</div><div class="value">{{len .Gaps}}</div><div class="note">{{.GapDays}} day{{if ne .GapDays 1}}s{{end}} not metered</div></div>
<div class="card"><div class="label">Busiest {{.By}}</div>{{with .Peak}}<div class="value">{{.Label}}</div><div class="note">{{.Sessions}} sessions</div>{{else}}<div class="value">—</div><div class="note">no sessions</div>{{end}}</div>
</section>

{{with .Classes}}<section class="classes" aria-labelledby="classes-title">
<h2 id="classes-title">Sessions by class</h2>
<svg class="class-bar" viewBox="0 0 100 4" preserveAspectRatio="none" role="img" aria-label="{{.Label}}">{{if .Empty}}<rect class="empty" x="0" y="0" width="100" height="4"/>{{else}}<rect class="human" x="0" y="0" width="{{.HumanWidth}}" height="4"/><rect class="bots" x="{{.BotX}}" y="0" width="{{.BotWidth}}" height="4"/><rect class="unclassified" x="{{.UnclassifiedX}}" y="0" width="{{.UnclassifiedWidth}}" height="4"/>{{end}}</svg>
<ul class="class-legend">
<li><span class="swatch human"></span>Human <data id="human-sessions" value="{{.Human}}">{{.HumanGrouped}}</data> <span class="share">({{.HumanShare}} %)</span></li>
<li><span class="swatch bots"></span>Bots <data id="bot-sessions" value="{{.Bots}}">{{.BotsGrouped}}</data> <span class="share">({{.BotShare}} %)</span></li>
<li><span class="swatch unclassified"></span>Unclassified <data id="unclassified-sessions" value="{{.Unclassified}}">{{.UnclassifiedGrouped}}</data> <span class="share">({{.UnclassifiedShare}} %)</span></li>
</ul>
<p class="bots-mode" id="bots-mode" data-bots="{{$.Bots}}">{{if .Exclude}}The sessions figures of this report leave out the {{.BotsGrouped}} sessions classified as bots (export --bots exclude). They keep the {{.UnclassifiedGrouped}} unclassified sessions, which cannot be told from people's.{{else}}The sessions figures of this report count every session, bots included (export --bots include, the default).{{end}} Each session is classified once, at its start, by its User-Agent; an unclassified one was never classified: metered before classification existed, imported, or recovered after a restart.</p>
</section>

{{end}}<h2>Sessions per {{.Chart.By}}</h2>
<figure>
<div class="legend"><span><span class="swatch bar"></span>sessions metered</span><span><span class="swatch gap"></span>gap in coverage: not metered</span></div>
{{with .Chart}}<svg id="chart" data-by="{{.By}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-labelledby="chart-title">
<title id="chart-title">{{.Title}}</title>
{{range .Gaps}}<rect class="gap" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>
{{end}}{{range .YTicks}}<line class="grid" x1="{{$.Chart.Left}}" x2="{{$.Chart.Right}}" y1="{{.Y}}" y2="{{.Y}}"/><text x="{{$.Chart.Left}}" y="{{.Y}}" dx="-8" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .Bars}}<rect class="bar" data-period="{{.Label}}" data-sessions="{{.Sessions}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Values}}<text class="value{{if .Inside}} inside{{end}}" x="{{.X}}" y="{{.Y}}" text-anchor="middle">{{.Text}}</text>
{{end}}<line class="axis" x1="{{.Left}}" x2="{{.Right}}" y1="{{.Bottom}}" y2="{{.Bottom}}"/>
{{range .GapLabels}}<text class="gap-label" x="{{.X}}" y="{{.Y}}" text-anchor="middle">{{.Text}}</text>
{{end}}{{range .NotMetered}}<text class="not-metered" x="{{.X}}" y="{{.Y}}"{{if .Rotate}} transform="rotate(-90 {{.X}} {{.Y}})"{{else}} text-anchor="middle"{{end}}>{{.Text}}</text>
{{end}}{{range .XLabels}}<text class="xlabel" x="{{.X}}" y="{{.Y}}" text-anchor="middle">{{.Text}}</text>
{{end}}{{if .Empty}}<text class="empty" x="{{.MidX}}" y="{{.MidY}}" text-anchor="middle">No day of this range was metered.</text>
{{end}}<text class="axis-title" transform="rotate(-90 {{.YTitleX}} {{.MidY}})" x="{{.YTitleX}}" y="{{.MidY}}" text-anchor="middle">{{.YTitle}}</text>
<text class="axis-title" x="{{.MidX}}" y="{{.XTitleY}}" text-anchor="middle">{{.XTitle}}</text>
</svg>
{{with .Caption}}<figcaption class="chart-by">{{.}}</figcaption>
{{end}}{{end}}</figure>

<h2>Sessions by {{.By}}</h2>
<table>
<thead><tr><th scope="col">{{.ByTitle}}</th><th scope="col" class="num">Sessions</th><th scope="col" class="num">Human</th><th scope="col" class="num">Bots</th><th scope="col" class="num">Unclassified</th><th scope="col">Metered</th><th scope="col">Gaps</th>{{if .DayColumns}}<th scope="col" class="num">Covered hours</th><th scope="col" class="num">Peak live</th><th scope="col" class="num">Average live</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr data-period="{{.Label}}"{{if .NotMetered}} class="not-metered"{{end}}><th scope="row">{{.Label}}</th><td class="sessions">{{template "number" .Sessions}}</td><td class="num human">{{template "number" .Human}}</td><td class="num bots">{{template "number" .Bots}}</td><td class="num unclassified">{{template "number" .Unclassified}}</td><td class="coverage">{{.Coverage}}</td><td class="gaps">{{.Gaps}}</td>{{if $.DayColumns}}<td class="num covered-hours">{{.CoveredHours}}</td><td class="num peak-live">{{template "number" .PeakLive}}</td><td class="num average-live">{{template "number" .AvgLive}}</td>{{end}}</tr>
{{end}}</tbody>
<tfoot><tr><td>Total</td><td class="num total-sessions">{{template "number" .TotalNumber}}</td><td class="num total-human">{{template "number" .Classes.HumanNumber}}</td><td class="num total-bots">{{template "number" .Classes.BotsNumber}}</td><td class="num total-unclassified">{{template "number" .Classes.UnclassifiedNumber}}</td><td colspan="{{if .DayColumns}}5{{else}}2{{end}}"></td></tr></tfoot>
</table>

{{with .Consumption}}<h2>Entitlement</h2>
<p class="consumption" id="consumption">Licence {{.License}} for {{.Deployment}}, contract year {{.YearStart}} to {{.YearLast}}: <strong>{{.Used}}</strong> of {{.Entitled}} sessions used ({{.Percent}} %). {{.Rate}} {{.RunsOut}}</p>
<svg class="usage-bar" viewBox="0 0 100 4" preserveAspectRatio="none" role="img" aria-label="{{.Percent}} % of the entitlement used"><rect x="0" y="0" width="100" height="4" fill="#e5e7eb"/><rect x="0" y="0" width="{{.Bar}}" height="4" fill="#2563eb"/></svg>
{{end}}<h2>Gaps in coverage</h2>
{{if .Gaps}}<ul class="gaps-list">
{{range .Gaps}}<li><span class="pretty">{{.Pretty}}</span> <span class="detail">(not metered: {{.First}} to {{.Last}})</span></li>
{{end}}</ul>{{else}}<p class="none">None: every day of the range was metered.</p>{{end}}

{{with .EndsAtToday}}<p class="ends-at-today" id="ends-at-today">Report ends at today, {{.}}: the days after it, to {{$.To}} (excluded), have not happened yet and are neither metered nor gaps.</p>
{{end}}<p class="total-line">Total session usage: <strong id="total">{{.Total}}</strong></p>

<footer>
<p>Dates are UTC days in the format YYYY-MM-DD. The range runs from {{.First}} to {{.Last}}, both included (export {{.First}} {{.To}}). A session is counted once, on the UTC day of its last request. A gap is a run of days on which nothing was metered: its sessions are unknown, not zero.</p>
<p>Generated by headcount. This report holds only counts and dates.</p>
</footer>
</main>
</body>
</html>
{{define "number"}}{{with .}}<data value="{{.Value}}">{{.Text}}</data>{{end}}{{end}}`

func newHTMLConsumption(c *Consumption) *htmlConsumption {
	if c == nil {
		return nil
	}
	h := &htmlConsumption{
		License: c.License, Deployment: c.Deployment, YearStart: date(c.YearStart), YearLast: date(c.YearEnd.AddDate(0, 0, -1)),
		Entitled: groupThousands(c.Entitled), Used: groupThousands(c.Used),
		Percent: strconv.FormatFloat(c.Percent, 'f', 1, 64),
		Bar:     strconv.FormatFloat(min(c.Percent, 100), 'f', 1, 64),
	}
	if c.RecentMetered > 0 {
		h.Rate = "Last 30 days: " + groupThousands(uint64(c.DailyRate+0.5)) + " sessions a day, averaged over the " +
			plural(c.RecentMetered, "metered day") + " (days not metered are left out)."
	} else {
		h.Rate = "Last 30 days: none was metered, so there is no daily rate."
	}
	switch {
	case c.Used >= c.Entitled:
		h.RunsOut = "The entitlement for this contract year is used up."
	case c.RecentMetered == 0:
		h.RunsOut = "No forecast without a metered day among the last 30."
	case !c.RunsOut.IsZero():
		h.RunsOut = "At this rate it runs out on " + date(c.RunsOut) + "."
	default:
		h.RunsOut = "At this rate it lasts the contract year."
	}
	return h
}
