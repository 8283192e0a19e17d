package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// WriteSummary renders s in format f to w: CSV, pretty text, JSON or HTML.
func WriteSummary(w io.Writer, s Summary, f Format) error {
	switch f {
	case Pretty:
		return WriteSummaryPretty(w, s)
	case JSON:
		return WriteSummaryJSON(w, s)
	case HTML:
		return WriteSummaryHTML(w, s)
	}
	return WriteSummaryCSV(w, s)
}

// weekdayNames are the weekdays in time.Weekday order, Sunday first.
var weekdayNames = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

// SummaryHeader returns the summary CSV's columns: the period, its four
// figures, the same four for each hour of day 00..23 and each weekday
// Sunday..Saturday, and unknown_days.
func SummaryHeader() []string {
	h := []string{"period", "metered_hours", "peak_live", "average_live_busiest", "session_hours"}
	for hour := range 24 {
		hh := fmt.Sprintf("%02d", hour)
		h = append(h, "metered_hours_"+hh, "peak_live_"+hh, "average_live_"+hh, "session_hours_"+hh)
	}
	for _, name := range weekdayNames {
		h = append(h, "metered_hours_"+name, "peak_live_"+name, "average_live_"+name, "session_hours_"+name)
	}
	return append(h, "unknown_days")
}

// millisHours writes a number of milliseconds in hours with 3 decimals,
// rounded half up, computed in integers so that it is exact.
func millisHours(ms uint64) string {
	thousandths := ms/3600 + (ms%3600*2+3600)/7200 // ms/3600 rounded half up, without overflow
	return strconv.FormatUint(thousandths/1000, 10) + "." + fmt.Sprintf("%03d", thousandths%1000)
}

// summaryCells returns p's four figures as CSV cells: metered hours, peak,
// average, session-hours; all empty when p has no statistics, the average
// empty when nothing was sampled.
func summaryCells(p Profile) [4]string {
	if !p.Metered() {
		return [4]string{}
	}
	c := [4]string{millisHours(p.SampledMillis), strconv.FormatUint(p.Peak, 10), "", millisHours(p.LiveMillis)}
	if p.Averaged {
		c[2] = formatAverage(p.Busiest)
	}
	return c
}

// WriteSummaryCSV writes the summary as CSV: the header SummaryHeader and
// a row per period. For each set of hours (the period, an hour of day, a
// weekday): metered_hours is the time live sessions were sampled, in hours
// with 3 decimals; peak_live the most live sessions seen at once;
// average_live the busiest average (SummaryPeriod's fields say which);
// session_hours the live sessions' integral over the sampled time, in
// session-hours with 3 decimals. A set without hourly statistics has four
// empty cells; the weekday cells are empty with --by day. unknown_days
// counts the period's metered days without hourly statistics (imported
// history): they are in no figure.
func WriteSummaryCSV(w io.Writer, s Summary) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(SummaryHeader()); err != nil {
		return err
	}
	for i, p := range s.Periods {
		row := []string{p.Label}
		all := summaryCells(p.All)
		row = append(row, all[:]...)
		for _, h := range p.Hours {
			c := summaryCells(h)
			row = append(row, c[:]...)
		}
		for _, wd := range p.Weekdays {
			var c [4]string
			if p.HasWeekdays(s.By) {
				c = summaryCells(wd)
			}
			row = append(row, c[:]...)
		}
		row = append(row, strconv.Itoa(p.UnknownDays))
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteSummaryPretty writes the summary as text: a banner, then per period
// a line with its figures and two tables, by hour of day and (weeks and
// longer) by weekday; an hour or weekday without statistics reads "not
// metered". A period without statistics has one line saying it was not
// metered, or that its figures are unknown when it has metered days
// without hourly statistics.
func WriteSummaryPretty(w io.Writer, s Summary) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, rule)
	fmt.Fprintf(bw, "Session Summary from the Environment: %s\n", s.Environment)
	fmt.Fprintln(bw, "All dates are in the format YYYY-MM-DD; hours and weekdays are UTC")
	fmt.Fprintln(bw, "Live sessions: peak, and average over the busiest 8 hours of a day and 5 days of a week")
	fmt.Fprintln(bw, rule)
	for _, p := range s.Periods {
		name := s.By.prettyName(p.Label)
		switch {
		case !p.All.Metered() && p.UnknownDays > 0:
			fmt.Fprintf(bw, "Summary for %s: unknown, %s metered without hourly statistics (imported history)\n", name, plural(p.UnknownDays, "day"))
			continue
		case !p.All.Metered():
			fmt.Fprintf(bw, "Summary for %s: not metered\n", name)
			continue
		}
		fmt.Fprintf(bw, "Summary for %s: %s metered hours, peak %d live, %s live on average (busiest), %s session-hours\n",
			name, millisHours(p.All.SampledMillis), p.All.Peak, averageText(p.All), millisHours(p.All.LiveMillis))
		if p.UnknownDays > 0 {
			fmt.Fprintf(bw, "  Not in these figures: %s metered without hourly statistics (imported history), unknown\n", plural(p.UnknownDays, "day"))
		}
		fmt.Fprintf(bw, "  %-9s %13s %8s %13s %13s\n", "Hour", "Metered hours", "Peak", "Average live", "Session-hours")
		for h, hp := range p.Hours {
			writeSummaryLine(bw, fmt.Sprintf("%02d", h), hp)
		}
		if p.HasWeekdays(s.By) {
			fmt.Fprintf(bw, "  %-9s %13s %8s %13s %13s\n", "Weekday", "Metered hours", "Peak", "Average live", "Session-hours")
			for wd, wp := range p.Weekdays {
				writeSummaryLine(bw, weekdayNames[wd], wp)
			}
		}
	}
	if !s.EndsAtToday.IsZero() {
		fmt.Fprintf(bw, "Summary ends at today, %s\n", s.EndsAtToday.Format(DateLayout))
	}
	fmt.Fprintln(bw, rule)
	return bw.Flush()
}

func averageText(p Profile) string {
	if !p.Averaged {
		return "-"
	}
	return formatAverage(p.Busiest)
}

func writeSummaryLine(bw *bufio.Writer, name string, p Profile) {
	if !p.Metered() {
		fmt.Fprintf(bw, "  %-9s %13s\n", name, "not metered")
		return
	}
	fmt.Fprintf(bw, "  %-9s %13s %8d %13s %13s\n", name, millisHours(p.SampledMillis), p.Peak, averageText(p), millisHours(p.LiveMillis))
}

// The summary's JSON form. Figures are numbers with the CSV's decimals, and
// null where the CSV cell is empty.
type jsonSummaryPeriod struct {
	Period       string               `json:"period"`
	Start        string               `json:"start"`
	End          string               `json:"end"`
	Days         int                  `json:"days"`
	UnknownDays  int                  `json:"unknown_days"`
	MeteredHours any                  `json:"metered_hours"`
	PeakLive     any                  `json:"peak_live"`
	Average      any                  `json:"average_live_busiest"`
	SessionHours any                  `json:"session_hours"`
	Hours        []jsonSummaryFigures `json:"hours"`
	Weekdays     []jsonSummaryFigures `json:"weekdays"`      // null with --by day
	WeekdayHours []jsonWeekdayHours   `json:"weekday_hours"` // the heat strips: mean live per weekday and hour
}

type jsonSummaryFigures struct {
	Hour         *int   `json:"hour,omitempty"`
	Weekday      string `json:"weekday,omitempty"`
	MeteredHours any    `json:"metered_hours"`
	PeakLive     any    `json:"peak_live"`
	Average      any    `json:"average_live"`
	SessionHours any    `json:"session_hours"`
}

type jsonWeekdayHours struct {
	Weekday string `json:"weekday"`
	Mean    []any  `json:"mean_live"`     // per hour 00..23, null where not metered
	Metered []any  `json:"metered_hours"` // per hour 00..23, null where not metered
}

// jsonCells turns CSV cells into JSON numbers, null for an empty cell.
func jsonCells(c [4]string) [4]any {
	var out [4]any
	for i, s := range c {
		if s != "" {
			out[i] = json.Number(s)
		}
	}
	return out
}

// WriteSummaryJSON writes the summary as JSON: the range ("to" as asked,
// "ends_at_today" when it reaches past today), and per period (one a line)
// the CSV's figures under the CSV's names, "hours" (24) and "weekdays" (7,
// null with --by day) holding the hour-of-day and weekday figures, and
// "weekday_hours", the mean live sessions of each weekday's hours over
// their sampled time (the HTML heat strips' numbers).
func WriteSummaryJSON(w io.Writer, s Summary) error {
	bw := bufio.NewWriter(w)
	field := func(name string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(bw, "  %q: %s,\n", name, b)
	}
	bw.WriteString("{\n")
	field("environment", s.Environment)
	field("from", date(s.From))
	field("to", date(s.RangeTo))
	if !s.EndsAtToday.IsZero() {
		field("ends_at_today", date(s.EndsAtToday))
	}
	field("granularity", s.By.String())
	periods := make([]jsonSummaryPeriod, 0, len(s.Periods))
	for _, p := range s.Periods {
		all := jsonCells(summaryCells(p.All))
		jp := jsonSummaryPeriod{Period: p.Label, Start: date(p.Start), End: date(p.End), Days: p.Days, UnknownDays: p.UnknownDays,
			MeteredHours: all[0], PeakLive: all[1], Average: all[2], SessionHours: all[3], Hours: make([]jsonSummaryFigures, 0, 24)}
		for h, hp := range p.Hours {
			c := jsonCells(summaryCells(hp))
			hour := h
			jp.Hours = append(jp.Hours, jsonSummaryFigures{Hour: &hour, MeteredHours: c[0], PeakLive: c[1], Average: c[2], SessionHours: c[3]})
		}
		if p.HasWeekdays(s.By) {
			for wd, wp := range p.Weekdays {
				c := jsonCells(summaryCells(wp))
				jp.Weekdays = append(jp.Weekdays, jsonSummaryFigures{Weekday: weekdayNames[wd], MeteredHours: c[0], PeakLive: c[1], Average: c[2], SessionHours: c[3]})
			}
		}
		for _, wd := range summaryWeekdays(s.By, p) {
			row := jsonWeekdayHours{Weekday: weekdayNames[wd], Mean: make([]any, 24), Metered: make([]any, 24)}
			for h := range 24 {
				g := p.GridCell(wd, h)
				if !g.Metered() {
					continue
				}
				row.Metered[h] = json.Number(millisHours(g.SampledMillis))
				if m, ok := g.Mean(); ok {
					row.Mean[h] = json.Number(formatAverage(m))
				}
			}
			jp.WeekdayHours = append(jp.WeekdayHours, row)
		}
		periods = append(periods, jp)
	}
	writeJSONList(bw, "periods", periods, true)
	bw.WriteString("}\n")
	return bw.Flush()
}

// summaryWeekdays returns the weekdays a period's heat strips show: all
// seven for weeks and longer, the day's own for a day.
func summaryWeekdays(by Granularity, p SummaryPeriod) []time.Weekday {
	if by == Day {
		return []time.Weekday{p.Start.Weekday()}
	}
	return []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
}
