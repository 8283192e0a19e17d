package report

import (
	"bytes"
	"html/template"
	"io"
	"strconv"
	"strings"
)

// WriteSummaryHTML writes the summary as one self-contained HTML5 page with
// the usage report's stylesheet: a table of the periods' figures, then per
// period its figures by hour of day, by weekday (weeks and longer) and a
// heat strip of 24 hours per weekday (for a day, the day's own), each cell
// shaded by the mean live sessions of that weekday's hour over its sampled
// time. Hours not metered are marked, not shaded as zero.
//
// The page loads nothing and holds only numbers, dates, weekday names and
// the environment name, which is escaped. The markup is machine-checkable
// against the CSV: each row of id="summary" is <tr data-period="LABEL">
// with <td class="metered-hours">, "peak-live", "average-live-busiest",
// "session-hours" and "unknown-days" holding the CSV's cells; each period's
// <section data-period="LABEL"> has <tr data-hour="HH"> and
// <tr data-weekday="NAME"> rows with the same four classes, and its heat
// strips <tr class="strip" data-weekday="NAME"> hold 24 <td data-hour="HH">
// cells, with data-mean-live where the hour was metered.
func WriteSummaryHTML(w io.Writer, s Summary) error {
	var b bytes.Buffer
	if err := summaryPage.Execute(&b, newSummaryHTMLView(s)); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// reportCSS is the usage report page's stylesheet, which the summary page
// shares so that the two read as one family.
var reportCSS = func() string {
	start := strings.Index(htmlSource, "<style>") + len("<style>")
	end := strings.Index(htmlSource, "</style>")
	return htmlSource[start:end]
}()

// summaryCSS is what the summary page adds to the report's stylesheet: the
// heat strips (six shades of the accent; hatched where not metered) and the
// side-by-side hour and weekday tables.
const summaryCSS = `
.definitions { font-size: 13.5px; color: var(--muted); margin: 14px 0 0; }
.period { margin-top: 36px; padding-top: 4px; border-top: 1px solid var(--line); }
.period h2 { margin-top: 18px; }
.period-figures { margin: 0 0 10px; color: var(--ink); }
.period-figures.not-metered { color: var(--gap-ink); font-style: italic; }
.profiles { display: grid; grid-template-columns: 1.2fr 1fr; gap: 24px; align-items: start; }
.profiles table { font-size: 13px; }
.profiles th, .profiles td { padding: 3px 8px; }
.profiles th[scope="row"] { white-space: nowrap; }
tr.not-metered .note { color: var(--gap-ink); font-style: italic; font-weight: 400; }
table.heat { table-layout: fixed; font-size: 11px; margin: 6px 0 0; }
table.heat th, table.heat td { padding: 4px 0; text-align: center; border: 1px solid #fff; }
table.heat thead th { font-size: 11px; letter-spacing: 0; }
table.heat tr > :first-child { width: 96px; }
table.heat th[scope="row"] { text-align: left; padding-left: 4px; font-weight: 600; color: var(--text); white-space: nowrap; }
table.heat td.not-metered { background: repeating-linear-gradient(135deg, var(--gap) 0 4px, #fff 4px 7px); color: transparent; }
.heat-0 { background: #f3f6fb; color: var(--muted); }
.heat-1 { background: #dbe7fd; color: var(--ink); }
.heat-2 { background: #b3cdfb; color: var(--ink); }
.heat-3 { background: #7ea9f6; color: var(--ink); }
.heat-4 { background: #4a82ee; color: #fff; }
.heat-5 { background: #1d4ed8; color: #fff; }
.heat-legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12.5px; color: var(--muted); margin: 6px 0 18px; }
.heat-legend .swatch.not-metered { background: repeating-linear-gradient(135deg, var(--gap) 0 4px, #fff 4px 7px); border: 1px solid var(--gap-edge); }
@media (max-width: 820px) { .profiles { grid-template-columns: 1fr; } }
@media print { .period { break-inside: auto; } table.heat, .profiles table { break-inside: avoid; } }
`

// summaryView is what the summary template prints; every number is text.
type summaryView struct {
	CSS         template.CSS
	Environment string
	First, Last string // the first and last day, inclusive
	To          string // the TO asked for
	Days        int
	By          string
	ByTitle     string
	EndsAtToday string
	Rows        []summaryRow
	Periods     []summaryPeriodView
}

type summaryRow struct {
	Label                                    string
	Metered, Peak, Average, Session, Unknown string
	NotMetered                               bool
}

type summaryPeriodView struct {
	Label, Title string
	Figures      string // the period's figures in a sentence
	NotMetered   bool
	Hours        []summaryFiguresRow
	Weekdays     []summaryFiguresRow // none with --by day
	HourLabels   []string
	Strips       []summaryStrip
}

type summaryFiguresRow struct {
	Key, Name                       string // data-hour or data-weekday value, and the row's label
	Metered, Peak, Average, Session string
	NotMetered                      bool
}

type summaryStrip struct {
	Weekday string
	Cells   []summaryCell
}

type summaryCell struct {
	Hour, Mean, Text, Title, Class string
	NotMetered                     bool
}

func newSummaryHTMLView(s Summary) summaryView {
	v := summaryView{
		CSS:         template.CSS(reportCSS + summaryCSS),
		Environment: s.Environment,
		First:       date(s.From),
		Last:        date(s.To.AddDate(0, 0, -1)),
		To:          date(s.RangeTo),
		Days:        dayIndex(s.From, s.To),
		By:          s.By.String(),
		ByTitle:     strings.ToUpper(s.By.String()[:1]) + s.By.String()[1:],
	}
	if !s.EndsAtToday.IsZero() {
		v.EndsAtToday = date(s.EndsAtToday)
	}
	hourLabels := make([]string, 24)
	for h := range hourLabels {
		hourLabels[h] = twoDigits(h)
	}
	for _, p := range s.Periods {
		c := summaryCells(p.All)
		v.Rows = append(v.Rows, summaryRow{Label: p.Label, Metered: c[0], Peak: c[1], Average: c[2], Session: c[3],
			Unknown: strconv.Itoa(p.UnknownDays), NotMetered: !p.All.Metered()})

		name := s.By.prettyName(p.Label)
		pv := summaryPeriodView{Label: p.Label, Title: strings.ToUpper(name[:1]) + name[1:], HourLabels: hourLabels, NotMetered: !p.All.Metered()}
		switch {
		case !p.All.Metered() && p.UnknownDays > 0:
			pv.Figures = "Unknown: " + plural(p.UnknownDays, "day") + " metered without hourly statistics (imported history)."
		case !p.All.Metered():
			pv.Figures = "Not metered."
		default:
			pv.Figures = c[0] + " metered hours, peak " + c[1] + " live sessions, " + averageText(p.All) +
				" live on average over the busiest hours, " + c[3] + " session-hours."
			if p.UnknownDays > 0 {
				pv.Figures += " Not in these figures: " + plural(p.UnknownDays, "day") + " metered without hourly statistics (imported history), unknown."
			}
		}
		for h, hp := range p.Hours {
			c := summaryCells(hp)
			pv.Hours = append(pv.Hours, summaryFiguresRow{Key: twoDigits(h), Name: twoDigits(h) + ":00", Metered: c[0], Peak: c[1], Average: c[2], Session: c[3], NotMetered: !hp.Metered()})
		}
		if p.HasWeekdays(s.By) {
			for wd, wp := range p.Weekdays {
				c := summaryCells(wp)
				pv.Weekdays = append(pv.Weekdays, summaryFiguresRow{Key: weekdayNames[wd], Name: weekdayNames[wd], Metered: c[0], Peak: c[1], Average: c[2], Session: c[3], NotMetered: !wp.Metered()})
			}
		}
		pv.Strips = summaryStrips(s.By, p)
		v.Periods = append(v.Periods, pv)
	}
	return v
}

// summaryStrips lays out a period's heat strips: one row of 24 hours per
// weekday, each hour shaded in six steps of its mean live sessions against
// the period's largest.
func summaryStrips(by Granularity, p SummaryPeriod) []summaryStrip {
	var most float64
	for _, wd := range summaryWeekdays(by, p) {
		for h := range 24 {
			g := p.GridCell(wd, h)
			if m, ok := g.Mean(); ok && g.Metered() {
				most = max(most, m)
			}
		}
	}
	var strips []summaryStrip
	for _, wd := range summaryWeekdays(by, p) {
		st := summaryStrip{Weekday: weekdayNames[wd]}
		for h := range 24 {
			g := p.GridCell(wd, h)
			cell := summaryCell{Hour: twoDigits(h)}
			m, ok := g.Mean()
			if !g.Metered() || !ok {
				cell.NotMetered, cell.Class = true, "not-metered"
				cell.Title = weekdayNames[wd] + " " + cell.Hour + ":00: not metered"
				st.Cells = append(st.Cells, cell)
				continue
			}
			level := 0
			if m > 0 && most > 0 {
				level = 1 + min(int(5*m/most), 4)
			}
			cell.Class = "heat-" + strconv.Itoa(level)
			cell.Mean = formatAverage(m)
			cell.Text = heatText(m)
			cell.Title = weekdayNames[wd] + " " + cell.Hour + ":00: " + cell.Mean + " live on average over " + millisHours(g.SampledMillis) +
				" metered hours, peak " + strconv.FormatUint(g.Peak, 10)
			st.Cells = append(st.Cells, cell)
		}
		strips = append(strips, st)
	}
	return strips
}

// heatText writes a mean short enough for a heat cell: 0, 2.5, 12.5, 140,
// 1.2k. The cell's title and data-mean-live hold it to two decimals.
func heatText(m float64) string {
	switch {
	case m == 0:
		return "0"
	case m < 100:
		return strconv.FormatFloat(m, 'f', 1, 64)
	case m < 1000:
		return strconv.FormatFloat(m, 'f', 0, 64)
	}
	return shortNumber(uint64(m + 0.5))
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

var summaryPage = template.Must(template.New("summary").Parse(summarySource))

const summarySource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="headcount">
<title>Session summary — {{.Environment}} — {{.First}} to {{.Last}} (UTC)</title>
<style>{{.CSS}}</style>
</head>
<body>
<main>
<header>
<p class="eyebrow">headcount · session summary</p>
<h1>{{.Environment}}</h1>
<p class="range"><strong>{{.First}} to {{.Last}}</strong> · UTC · {{.Days}} day{{if ne .Days 1}}s{{end}} · by {{.By}}</p>
<p class="definitions">Live sessions are the sessions in progress, sampled by the agent. <em>Metered hours</em>: the time they were sampled. <em>Peak live</em>: the most at once. <em>Average live (busiest)</em>: per day the mean of its 8 busiest hours' average, per week the mean of its 5 busiest days, over a longer period the mean of the 5 busiest days of each week, pooled; an hour of day's: the mean of its 5 busiest days per week, pooled. <em>Session-hours</em>: live sessions times the time they were live. Hours not metered are left out of every figure, never counted as zero. The statistics do not tell people from bots.</p>
</header>

<h2>Summary by {{.By}}</h2>
<table id="summary">
<thead><tr><th scope="col">{{.ByTitle}}</th><th scope="col" class="num">Metered hours</th><th scope="col" class="num">Peak live</th><th scope="col" class="num">Average live (busiest)</th><th scope="col" class="num">Session-hours</th><th scope="col" class="num">Days without hourly figures</th></tr></thead>
<tbody>
{{range .Rows}}<tr data-period="{{.Label}}"{{if .NotMetered}} class="not-metered"{{end}}><th scope="row">{{.Label}}</th><td class="num metered-hours">{{.Metered}}</td><td class="num peak-live">{{.Peak}}</td><td class="num average-live-busiest">{{.Average}}</td><td class="num session-hours">{{.Session}}</td><td class="num unknown-days">{{.Unknown}}</td></tr>
{{end}}</tbody>
</table>
{{range .Periods}}
<section class="period" data-period="{{.Label}}">
<h2>{{.Title}}</h2>
<p class="period-figures{{if .NotMetered}} not-metered{{end}}">{{.Figures}}</p>
{{if not .NotMetered}}<table class="heat" aria-label="Mean live sessions by weekday and hour (UTC)">
<thead><tr><th scope="col"></th>{{range .HourLabels}}<th scope="col">{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Strips}}<tr class="strip" data-weekday="{{.Weekday}}"><th scope="row">{{.Weekday}}</th>{{range .Cells}}<td class="{{.Class}}" data-hour="{{.Hour}}"{{if not .NotMetered}} data-mean-live="{{.Mean}}"{{end}} title="{{.Title}}">{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
<p class="heat-legend"><span><span class="swatch heat-1"></span>fewer live sessions</span><span><span class="swatch heat-5"></span>more, shaded against the period's busiest hour</span><span><span class="swatch not-metered"></span>not metered</span></p>
<div class="profiles">
<table class="hours">
<thead><tr><th scope="col">Hour (UTC)</th><th scope="col" class="num">Metered hours</th><th scope="col" class="num">Peak live</th><th scope="col" class="num">Average live (busiest days)</th><th scope="col" class="num">Session-hours</th></tr></thead>
<tbody>
{{range .Hours}}<tr data-hour="{{.Key}}"{{if .NotMetered}} class="not-metered"{{end}}><th scope="row">{{.Name}}{{if .NotMetered}} <span class="note">not metered</span>{{end}}</th><td class="num metered-hours">{{.Metered}}</td><td class="num peak-live">{{.Peak}}</td><td class="num average-live">{{.Average}}</td><td class="num session-hours">{{.Session}}</td></tr>
{{end}}</tbody>
</table>
{{if .Weekdays}}<table class="weekdays">
<thead><tr><th scope="col">Weekday</th><th scope="col" class="num">Metered hours</th><th scope="col" class="num">Peak live</th><th scope="col" class="num">Average live (busiest hours)</th><th scope="col" class="num">Session-hours</th></tr></thead>
<tbody>
{{range .Weekdays}}<tr data-weekday="{{.Key}}"{{if .NotMetered}} class="not-metered"{{end}}><th scope="row">{{.Name}}{{if .NotMetered}} <span class="note">not metered</span>{{end}}</th><td class="num metered-hours">{{.Metered}}</td><td class="num peak-live">{{.Peak}}</td><td class="num average-live">{{.Average}}</td><td class="num session-hours">{{.Session}}</td></tr>
{{end}}</tbody>
</table>{{end}}
</div>
{{end}}</section>
{{end}}
{{with .EndsAtToday}}<p class="ends-at-today" id="ends-at-today">Summary ends at today, {{.}}: the days after it, to {{$.To}} (excluded), have not happened yet.</p>
{{end}}
<footer>
<p>Dates are UTC days in the format YYYY-MM-DD; hours and weekdays are UTC. The range runs from {{.First}} to {{.Last}}, both included (export {{.First}} {{.To}}). Weeks run Sunday to Saturday. A day metered without hourly statistics (imported history) is in no figure: its live sessions are unknown, not zero.</p>
<p>Generated by headcount. This summary holds only counts and dates.</p>
</footer>
</main>
</body>
</html>
`
