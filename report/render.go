package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Format is a report's output form.
type Format int

const (
	CSV Format = iota
	Pretty
	JSON
	HTML
)

// ParseFormat reads csv, pretty, json or html.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "csv":
		return CSV, nil
	case "pretty":
		return Pretty, nil
	case "json":
		return JSON, nil
	case "html":
		return HTML, nil
	}
	return 0, fmt.Errorf("--format %q: want csv, pretty, json or html", s)
}

// Write renders r in format f to w.
func Write(w io.Writer, r Report, f Format) error {
	switch f {
	case Pretty:
		return WritePretty(w, r)
	case JSON:
		return WriteJSON(w, r)
	case HTML:
		return WriteHTML(w, r)
	}
	return WriteCSV(w, r)
}

// WriteCSV writes the report as CSV: a header `month,sessions,gaps,environment`
// (the first column named after the granularity) and a row per period.
// sessions is empty for a period with no covered day; gaps lists the gaps
// meeting the period as START_END, joined with ";". With r.BotColumn, a
// column bot_sessions follows the first four: the period's sessions
// classified as bots, empty where sessions is. With day granularity,
// three columns follow: covered_hours, peak_live, average_live.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	header := []string{r.By.String(), "sessions", "gaps", "environment"}
	if r.BotColumn {
		header = append(header, "bot_sessions")
	}
	if r.By == Day {
		header = append(header, "covered_hours", "peak_live", "average_live")
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for i, p := range r.Periods {
		row := []string{p.Label, sessionsText(p), gapsText(p.Gaps), r.Environment}
		if r.BotColumn {
			row = append(row, botsText(p))
		}
		if r.By == Day {
			d := r.Days[dayIndex(r.From, maxTime(p.Start, r.From))]
			row = append(row, strconv.Itoa(d.CoveredHours), strconv.FormatUint(d.Peak, 10), formatAverage(d.Average))
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	cw.Flush()
	return cw.Error()
}

// sessionsText is the period's sessions, empty when it has no covered day.
func sessionsText(p Period) string { return countText(p.Covered(), p.Sessions) }

// botsText is the period's bot sessions, empty when it has no covered day.
func botsText(p Period) string { return countText(p.Covered(), p.Classes.Bots) }

// countText is a CSV cell of a count: n, or empty when it is not known
// (nothing was metered).
func countText(known bool, n uint64) string {
	if !known {
		return ""
	}
	return strconv.FormatUint(n, 10)
}

func gapsText(spans []Span) string {
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = s.Start.Format(DateLayout) + "_" + s.End.Format(DateLayout)
	}
	return strings.Join(parts, ";")
}

func formatAverage(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

const rule = "############################################################"

// WritePretty writes the report in the original tool's text layout: a
// banner, one line per period with a covered day, the gaps, and the total;
// a period's line is `Session usage for PERIOD: N`, PERIOD the month as the
// seed writes it (2023-01), or `the week of 2026-11-29` (its Sunday), `the
// day 2026-11-29`, `the year 2026`;
// before the total, when the range reaches past today, the line
// `Report ends at today, YYYY-MM-DD`.
//
// With r.BotColumn, each period's line is followed by `Bot sessions for
// PERIOD: B` and the total by `Total bot sessions: B`. With ExcludeBots,
// the lines `Bot sessions left out (--bots exclude): B` and `Unclassified
// sessions counted (--bots exclude keeps them): U` follow the total, each
// only when its number is not 0. Without either, the layout is the seed's.
func WritePretty(w io.Writer, r Report) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, rule)
	fmt.Fprintf(bw, "Generating Session Usage Report from the Environment: %s\n", r.Environment)
	fmt.Fprintln(bw, "This can take a few minutes...")
	fmt.Fprintln(bw, "All dates are in the format YYYY-MM-DD")
	fmt.Fprintln(bw, rule)
	for _, p := range r.Periods {
		if p.Covered() {
			name := r.By.prettyName(p.Label)
			fmt.Fprintf(bw, "Session usage for %s: %d\n", name, p.Sessions)
			if r.BotColumn {
				fmt.Fprintf(bw, "Bot sessions for %s: %d\n", name, p.Classes.Bots)
			}
		}
	}
	for _, g := range r.Gaps {
		fmt.Fprintf(bw, "Gap between %s and %s: %d day(s)\n", g.Prev.Format(DateLayout), g.Next.Format(DateLayout), g.Days)
	}
	if !r.EndsAtToday.IsZero() {
		fmt.Fprintf(bw, "Report ends at today, %s\n", r.EndsAtToday.Format(DateLayout))
	}
	fmt.Fprintln(bw, rule)
	fmt.Fprintf(bw, "Total session usage: %d\n", r.Total)
	if r.BotColumn {
		fmt.Fprintf(bw, "Total bot sessions: %d\n", r.Classes.Bots)
	}
	if r.Bots == ExcludeBots {
		if r.Classes.Bots > 0 {
			fmt.Fprintf(bw, "Bot sessions left out (--bots exclude): %d\n", r.Classes.Bots)
		}
		if r.Classes.Unclassified > 0 {
			fmt.Fprintf(bw, "Unclassified sessions counted (--bots exclude keeps them): %d\n", r.Classes.Unclassified)
		}
	}
	fmt.Fprintln(bw, rule)
	return bw.Flush()
}

// The JSON form: dates are YYYY-MM-DD, times RFC 3339 in UTC, ranges
// half-open (end excluded), numbers are numbers.
type jsonReport struct {
	Environment   string       `json:"environment"`
	From          string       `json:"from"`
	To            string       `json:"to"`
	EndsAtToday   string       `json:"ends_at_today,omitempty"` // set when the range reaches past today
	Granularity   string       `json:"granularity"`
	Bots          string       `json:"bots"` // include or exclude: whether the sessions figures count the bot sessions
	TotalSessions uint64       `json:"total_sessions"`
	TotalClasses  jsonClasses  // total_human_sessions, total_bot_sessions, total_unclassified_sessions
	Periods       []jsonPeriod `json:"periods"`
	Gaps          []jsonGap    `json:"gaps"`
	Coverage      []Interval   `json:"coverage"`
	Days          []jsonDay    `json:"days"`
	Consumption   *jsonConsumption
}

type jsonConsumption struct {
	License    string  `json:"license_id"`
	Deployment string  `json:"deployment_id"`
	YearStart  string  `json:"contract_year_start"`
	YearEnd    string  `json:"contract_year_end"` // excluded
	Entitled   uint64  `json:"entitled_sessions"`
	Used       uint64  `json:"used_sessions"`
	Percent    float64 `json:"used_percent"`
	DailyRate  float64 `json:"daily_rate_30_days"` // over the metered days of the last 30
	RateDays   int     `json:"daily_rate_metered_days"`
	RunsOut    *string `json:"forecast_runs_out"` // null: not within the contract year
}

type jsonPeriod struct {
	Period       string     `json:"period"`
	Start        string     `json:"start"`
	End          string     `json:"end"`
	Sessions     *uint64    `json:"sessions"` // null: no covered day in the range
	Human        *uint64    `json:"human_sessions"`
	Bots         *uint64    `json:"bot_sessions"`
	Unclassified *uint64    `json:"unclassified_sessions"`
	CoveredDays  int        `json:"covered_days"`
	Gaps         []jsonSpan `json:"gaps"`
}

// jsonClasses is a Classes with the report's totals' names.
type jsonClasses struct {
	Human        uint64 `json:"total_human_sessions"`
	Bots         uint64 `json:"total_bot_sessions"`
	Unclassified uint64 `json:"total_unclassified_sessions"`
}

type jsonSpan struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type jsonGap struct {
	Previous       string `json:"previous"`
	Next           string `json:"next"`
	FirstUncovered string `json:"first_uncovered"`
	LastUncovered  string `json:"last_uncovered"`
	Days           int    `json:"days"`
}

// jsonDay is one day of the JSON form. null says a figure is unknown: the
// sessions of a day not metered (as a period's), and the covered hours and
// live sessions of a day imported from another meter; a day not metered has
// 0 covered hours and no live-session figures either.
type jsonDay struct {
	Date         string     `json:"date"`
	Sessions     nullUint   `json:"sessions"`
	Human        nullUint   `json:"human_sessions"`
	Bots         nullUint   `json:"bot_sessions"`
	Unclassified nullUint   `json:"unclassified_sessions"`
	Covered      bool       `json:"covered"`
	Imported     bool       `json:"imported"`
	CoveredHours nullUint   `json:"covered_hours"`
	PeakLive     nullUint   `json:"peak_live"`
	AverageLive  nullFloat  `json:"average_live"`
	Hours        []jsonHour `json:"hours"`
}

// nullUint is a count that may be unknown (JSON null).
type nullUint struct {
	V     uint64
	Known bool
}

func (n nullUint) MarshalJSON() ([]byte, error) { return n.append(nil), nil }

func (n nullUint) append(b []byte) []byte {
	if !n.Known {
		return append(b, "null"...)
	}
	return strconv.AppendUint(b, n.V, 10)
}

// nullFloat is a figure that may be unknown (JSON null).
type nullFloat struct {
	V     float64
	Known bool
}

func (n nullFloat) MarshalJSON() ([]byte, error) { return n.append(nil), nil }

func (n nullFloat) append(b []byte) []byte {
	if !n.Known {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, n.V, 'f', -1, 64)
}

type jsonHour struct {
	Hour        int     `json:"hour"`
	PeakLive    uint64  `json:"peak_live"`
	AverageLive float64 `json:"average_live"`
}

func date(t time.Time) string { return t.Format(DateLayout) }

// WriteJSON writes everything the other forms carry, plus the exact coverage
// intervals and every day's detail, as indented JSON. "to" is the TO asked
// for; when the range reaches past today, "ends_at_today" is today and the
// periods, gaps and days stop at it. Otherwise the field is absent.
//
// Each day says whether it was "covered" (metered) and "imported" (from
// another meter); its sessions are null when it was not metered, its
// covered_hours, peak_live and average_live null when it was imported (its
// hours are unknown), peak_live and average_live null when not metered.
//
// Every sessions figure (the total, each period's, each day's) counts as
// "bots" says (include or exclude) and comes with its parts by class, bots
// included whatever the mode: human_sessions, bot_sessions and
// unclassified_sessions (total_… for the total), null where sessions is.
func WriteJSON(w io.Writer, r Report) error {
	out := jsonReport{
		Environment:   r.Environment,
		From:          date(r.From),
		To:            date(r.RangeTo),
		Granularity:   r.By.String(),
		Bots:          r.Bots.String(),
		TotalSessions: r.Total,
		TotalClasses:  jsonClasses{r.Classes.Human, r.Classes.Bots, r.Classes.Unclassified},
		Periods:       make([]jsonPeriod, 0, len(r.Periods)),
		Gaps:          make([]jsonGap, 0, len(r.Gaps)),
		Coverage:      make([]Interval, 0, len(r.Coverage)),
		Days:          make([]jsonDay, 0, len(r.Days)),
	}
	if !r.EndsAtToday.IsZero() {
		out.EndsAtToday = date(r.EndsAtToday)
	}
	for _, p := range r.Periods {
		jp := jsonPeriod{Period: p.Label, Start: date(p.Start), End: date(p.End), CoveredDays: p.CoveredDays, Gaps: make([]jsonSpan, 0, len(p.Gaps))}
		if p.Covered() {
			s, c := p.Sessions, p.Classes
			jp.Sessions, jp.Human, jp.Bots, jp.Unclassified = &s, &c.Human, &c.Bots, &c.Unclassified
		}
		for _, s := range p.Gaps {
			jp.Gaps = append(jp.Gaps, jsonSpan{date(s.Start), date(s.End)})
		}
		out.Periods = append(out.Periods, jp)
	}
	for _, g := range r.Gaps {
		out.Gaps = append(out.Gaps, jsonGap{date(g.Prev), date(g.Next), date(g.First), date(g.Last), g.Days})
	}
	for _, iv := range r.Coverage {
		out.Coverage = append(out.Coverage, Interval{iv.Start.UTC(), iv.End.UTC()})
	}
	if c := r.Consumption; c != nil {
		jc := &jsonConsumption{License: c.License, Deployment: c.Deployment, YearStart: date(c.YearStart), YearEnd: date(c.YearEnd),
			Entitled: c.Entitled, Used: c.Used, Percent: round2(c.Percent), DailyRate: round2(c.DailyRate), RateDays: c.RecentMetered}
		if !c.RunsOut.IsZero() {
			d := date(c.RunsOut)
			jc.RunsOut = &d
		}
		out.Consumption = jc
	}
	for _, d := range r.Days {
		metered, hoursKnown := d.Covered, d.Covered && !d.Imported
		jd := jsonDay{Date: date(d.Date), Covered: d.Covered, Imported: d.Imported,
			Sessions: nullUint{d.Sessions, metered}, Human: nullUint{d.Classes.Human, metered},
			Bots: nullUint{d.Classes.Bots, metered}, Unclassified: nullUint{d.Classes.Unclassified, metered},
			CoveredHours: nullUint{uint64(d.CoveredHours), !d.Imported},
			PeakLive:     nullUint{d.Peak, hoursKnown}, AverageLive: nullFloat{round2(d.Average), hoursKnown}, Hours: []jsonHour{}}
		for h, hd := range d.Hours {
			if hd.Sampled {
				jd.Hours = append(jd.Hours, jsonHour{h, hd.Peak, round2(hd.Average)})
			}
		}
		out.Days = append(out.Days, jd)
	}
	return writeJSONLines(w, out)
}

// writeJSONLines writes out as JSON with one list element per line: readable,
// and ten years of days with their hours stay a few megabytes.
func writeJSONLines(w io.Writer, out jsonReport) error {
	bw := bufio.NewWriter(w)
	field := func(name string, v any, last bool) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(bw, "  %q: %s", name, b)
		if !last {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
	}
	bw.WriteString("{\n")
	field("environment", out.Environment, false)
	field("from", out.From, false)
	field("to", out.To, false)
	if out.EndsAtToday != "" {
		field("ends_at_today", out.EndsAtToday, false)
	}
	field("granularity", out.Granularity, false)
	field("bots", out.Bots, false)
	field("total_sessions", out.TotalSessions, false)
	field("total_human_sessions", out.TotalClasses.Human, false)
	field("total_bot_sessions", out.TotalClasses.Bots, false)
	field("total_unclassified_sessions", out.TotalClasses.Unclassified, false)
	writeJSONList(bw, "periods", out.Periods, false)
	writeJSONList(bw, "gaps", out.Gaps, false)
	writeJSONList(bw, "coverage", out.Coverage, false)
	if out.Consumption != nil {
		field("consumption", out.Consumption, false)
	}
	writeJSONList(bw, "days", out.Days, true) // jsonDay marshals itself: ten years of days are most of the work
	bw.WriteString("}\n")
	return bw.Flush()
}

func writeJSONList[T any](bw *bufio.Writer, name string, items []T, last bool) {
	fmt.Fprintf(bw, "  %q: [", name)
	for i, it := range items {
		if i > 0 {
			bw.WriteString(",")
		}
		var b []byte
		if m, ok := any(it).(json.Marshaler); ok {
			b, _ = m.MarshalJSON() // trusted, already compact: skip encoding/json's re-validation
		} else {
			b, _ = json.Marshal(it)
		}
		bw.WriteString("\n    ")
		bw.Write(b)
	}
	if len(items) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]")
	if !last {
		bw.WriteString(",")
	}
	bw.WriteString("\n")
}

// MarshalJSON writes a day as encoding/json would, without reflection.
func (d jsonDay) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 240+len(d.Hours)*48)
	b = append(b, `{"date":"`...)
	b = append(b, d.Date...)
	b = append(b, `","sessions":`...)
	b = d.Sessions.append(b)
	b = append(b, `,"human_sessions":`...)
	b = d.Human.append(b)
	b = append(b, `,"bot_sessions":`...)
	b = d.Bots.append(b)
	b = append(b, `,"unclassified_sessions":`...)
	b = d.Unclassified.append(b)
	b = append(b, `,"covered":`...)
	b = strconv.AppendBool(b, d.Covered)
	b = append(b, `,"imported":`...)
	b = strconv.AppendBool(b, d.Imported)
	b = append(b, `,"covered_hours":`...)
	b = d.CoveredHours.append(b)
	b = append(b, `,"peak_live":`...)
	b = d.PeakLive.append(b)
	b = append(b, `,"average_live":`...)
	b = d.AverageLive.append(b)
	b = append(b, `,"hours":[`...)
	for i, h := range d.Hours {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"hour":`...)
		b = strconv.AppendInt(b, int64(h.Hour), 10)
		b = append(b, `,"peak_live":`...)
		b = strconv.AppendUint(b, h.PeakLive, 10)
		b = append(b, `,"average_live":`...)
		b = strconv.AppendFloat(b, h.AverageLive, 'f', -1, 64)
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

func round2(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 2, 64), 64)
	return f
}
