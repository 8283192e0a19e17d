// Package report turns stored daily counts and coverage into usage reports:
// rows per period with their sessions and gaps, and the renderers that print
// them as CSV, pretty text, JSON and HTML.
//
// It works on plain values (Input) and knows nothing of the database, nor of
// the clock: the caller says which day is today (Input.Today). All dates are
// UTC days; ranges are half-open: From ≤ day < To. A day after today has not
// happened yet: it is neither covered nor a gap, and a report whose range
// reaches past today ends at today (today itself, partial, is in it).
package report

import (
	"fmt"
	"time"
)

const day = 24 * time.Hour

// Granularity is the length of a report's periods.
type Granularity int

const (
	Month Granularity = iota
	Week              // Sunday to Saturday, UTC
	Day
	Year
)

// ParseGranularity reads month, week, day or year.
func ParseGranularity(s string) (Granularity, error) {
	switch s {
	case "month":
		return Month, nil
	case "week":
		return Week, nil
	case "day":
		return Day, nil
	case "year":
		return Year, nil
	}
	return 0, fmt.Errorf("--by %q: want month, week, day or year", s)
}

// String returns the granularity's name, which is also the first CSV column's.
func (g Granularity) String() string {
	return [...]string{"month", "week", "day", "year"}[g]
}

// start returns the first day of the period containing d.
func (g Granularity) start(d time.Time) time.Time {
	switch g {
	case Month:
		return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
	case Week:
		return d.AddDate(0, 0, -int(d.Weekday()))
	case Year:
		return time.Date(d.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return d
}

// next returns the first day of the period after the one starting at start.
func (g Granularity) next(start time.Time) time.Time {
	switch g {
	case Month:
		return start.AddDate(0, 1, 0)
	case Week:
		return start.AddDate(0, 0, 7)
	case Year:
		return start.AddDate(1, 0, 0)
	}
	return start.AddDate(0, 0, 1)
}

// label names the period starting at start: 2023-01, 2023, or its first day.
func (g Granularity) label(start time.Time) string {
	switch g {
	case Month:
		return start.Format("2006-01")
	case Year:
		return start.Format("2006")
	}
	return start.Format(DateLayout)
}

// prettyName names the period labelled label in the pretty form's lines:
// a month by its label alone, as the seed's `Session usage for 2023-01`,
// the others with their kind, so that a week's Sunday does not read as a
// day: `the week of 2026-11-29`, `the day 2026-11-29`, `the year 2026`.
func (g Granularity) prettyName(label string) string {
	switch g {
	case Week:
		return "the week of " + label
	case Day:
		return "the day " + label
	case Year:
		return "the year " + label
	}
	return label
}

// DateLayout is how every date is written: YYYY-MM-DD.
const DateLayout = "2006-01-02"

// Input is what a report is built from.
type Input struct {
	From, To    time.Time // UTC days, From < To
	By          Granularity
	Environment string
	Days        []DaySessions // sessions per day; days absent had none
	Hours       []HourStat    // live-session statistics per hour, for the day detail
	Coverage    []Interval    // when metering was on
	// Imported lists the UTC days whose sessions were imported from another
	// meter: covered all day, their hours unknown.
	Imported []time.Time
	// Bots decides whether the sessions figures count the bot sessions;
	// the split by class is in the report either way.
	Bots BotMode
	// Today is the current UTC day by the caller's wall clock (any time in
	// it will do). The days after it are left out of the report: neither
	// covered nor gaps. Zero: no day of the range is in the future.
	Today time.Time
}

// DaySessions is the number of sessions completed on one UTC day. Sessions
// counts every session; Bots and Unclassified are the parts of it classified
// as bots and not classified at all (days metered before classification
// existed, imported history, sessions recovered after a crash, starts the
// classifier had no time for); the rest were classified as people. Parts
// larger than Sessions are cut to it, bots first.
type DaySessions struct {
	Day          time.Time
	Sessions     uint64
	Bots         uint64
	Unclassified uint64
}

// classes returns d's sessions by class, its parts cut to Sessions.
func (d DaySessions) classes() Classes {
	bots := min(d.Bots, d.Sessions)
	unclassified := min(d.Unclassified, d.Sessions-bots)
	return Classes{Human: d.Sessions - bots - unclassified, Bots: bots, Unclassified: unclassified}
}

// Classes is a number of sessions by the class given to each at its start.
type Classes struct {
	Human        uint64 // classified as people
	Bots         uint64 // classified as bots by their User-Agent
	Unclassified uint64 // never classified: they may be either
}

// All returns every session of c.
func (c Classes) All() uint64 { return c.Human + c.Bots + c.Unclassified }

// Counted returns the sessions of c that the sessions figures count under
// mode: all of them, or all but the bots. An unclassified session cannot be
// told from a person's, so it is always counted.
func (c Classes) Counted(mode BotMode) uint64 {
	if mode == ExcludeBots {
		return c.Human + c.Unclassified
	}
	return c.All()
}

func (c *Classes) add(o Classes) {
	c.Human += o.Human
	c.Bots += o.Bots
	c.Unclassified += o.Unclassified
}

// BotMode decides whether the sessions figures of a report (every period's,
// every day's, the total) count the sessions classified as bots. The
// decision is made when the report is built, from counts that keep every
// class apart, so neither choice loses anything.
type BotMode int

const (
	IncludeBots BotMode = iota // every session, as the seed defines sessions: the default
	ExcludeBots                // every session but those classified as bots
)

// ParseBotMode reads include or exclude.
func ParseBotMode(s string) (BotMode, error) {
	switch s {
	case "include":
		return IncludeBots, nil
	case "exclude":
		return ExcludeBots, nil
	}
	return 0, fmt.Errorf("--bots %q: want include (sessions count every session, the default) or exclude (sessions leave out those classified as bots; unclassified sessions stay in)", s)
}

// String returns the mode's name, as --bots takes it.
func (m BotMode) String() string {
	if m == ExcludeBots {
		return "exclude"
	}
	return "include"
}

// HourStat is the live sessions of one UTC hour: the peak, and the integral
// over the sampled time from which the average comes.
type HourStat struct {
	Hour          time.Time
	Peak          uint64
	LiveMillis    uint64
	SampledMillis uint64
}

// Interval is a span of time in which metering was on.
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Report is a built report: what every renderer prints.
type Report struct {
	Environment string
	// From and To bound the days reported (To excluded). To is the range's
	// TO, or the day after today when the range reaches past today.
	From, To time.Time
	// RangeTo is the TO asked for.
	RangeTo time.Time
	// EndsAtToday is today when the range reaches past it (the report then
	// ends at today: To is the day after); zero otherwise.
	EndsAtToday time.Time
	By          Granularity
	Periods     []Period
	Gaps        []Gap
	Bots        BotMode    // whether Total and every Sessions count the bot sessions
	Total       uint64     // sessions over the covered days of the range, counted as Bots says
	Classes     Classes    // the sessions over the covered days of the range, by class
	Coverage    []Interval // coverage intervals, clipped to the range
	Days        []DayDetail
	// BotColumn adds the bot sessions to the seed's layouts: a bot_sessions
	// column after CSV's first four, a line per period and one after the
	// total in the pretty form. Without it they are the seed's, byte for
	// byte. JSON and HTML show every class always. A choice of layout that
	// changes no figure; the caller sets it after Build.
	BotColumn bool
	// Consumption is the licence's use in its current contract year, when
	// the export was given a licence (JSON and HTML show it).
	Consumption *Consumption
}

// Consumption is the entitlement's use in the current contract year.
type Consumption struct {
	License, Deployment string
	YearStart, YearEnd  time.Time // YearEnd excluded
	Entitled, Used      uint64
	Percent             float64
	DailyRate           float64   // sessions a day, over the metered days of the last 30
	RecentMetered       int       // the metered days of the last 30, which DailyRate averages
	RunsOut             time.Time // forecast day the entitlement runs out; zero: not in this contract year
}

// Period is one row of the report.
type Period struct {
	Label       string
	Start, End  time.Time // the whole calendar period, half-open
	Sessions    uint64    // over the covered days of the period within the range, counted as the report's Bots says
	Classes     Classes   // the same sessions by class, bots included
	CoveredDays int       // 0: the period has no covered day in the range
	Gaps        []Span    // the gaps meeting the period, cut to it as the CSV form prints them
}

// Covered reports whether the period has a covered day in the range.
func (p Period) Covered() bool { return p.CoveredDays > 0 }

// Span is a pair of dates.
type Span struct{ Start, End time.Time }

// Gap is a maximal run of uncovered days First..Last within the range.
type Gap struct {
	First, Last time.Time
	Prev, Next  time.Time // the day before First and the day after Last
	Days        int
}

// DayDetail is one day of the range.
type DayDetail struct {
	Date         time.Time
	Sessions     uint64  // counted as the report's Bots says
	Classes      Classes // the day's sessions by class, bots included
	Covered      bool
	Imported     bool    // imported from another meter: its hours and live sessions are unknown
	CoveredHours int     // hours of the day that coverage touches
	Peak         uint64  // most live sessions seen in the day
	Average      float64 // mean live sessions over the day's sampled time
	Hours        [24]HourDetail

	coveredHours [24]bool
}

// HourDetail is one hour of a day: live sessions seen, when sampled.
type HourDetail struct {
	Sampled bool
	Peak    uint64
	Average float64
}

// Build computes a report from in.
func Build(in Input) Report {
	r := Report{Environment: in.Environment, From: in.From, To: in.To, RangeTo: in.To, By: in.By, Bots: in.Bots}
	if !in.Today.IsZero() {
		today := in.Today.UTC().Truncate(day)
		if end := today.Add(day); in.To.After(end) {
			// The days after today have not happened: the report ends at
			// today (or, for a range starting after today, holds no day).
			r.EndsAtToday = today
			in.To = maxTime(end, in.From)
			r.To = in.To
		}
	}
	n := int(in.To.Sub(in.From) / day)
	days := make([]DayDetail, n)
	for i := range days {
		days[i].Date = in.From.AddDate(0, 0, i)
	}
	index := func(t time.Time) int { return dayIndex(in.From, t) }

	for _, iv := range in.Coverage {
		clipped, ok := clip(iv, in.From, in.To)
		if !ok {
			continue
		}
		r.Coverage = append(r.Coverage, clipped)
		markHours(days, in.From, clipped)
	}
	for _, d := range in.Days {
		if i := index(d.Day); i >= 0 && i < n {
			days[i].Classes.add(d.classes())
		}
	}
	addHours(days, in.From, in.Hours)
	for _, t := range in.Imported {
		if i := index(t); i >= 0 && i < n {
			days[i].Imported = true
		}
	}
	for i := range days {
		d := &days[i]
		d.Sessions = d.Classes.Counted(in.Bots)
		for _, covered := range d.coveredHours {
			if covered {
				d.CoveredHours++
			}
		}
		d.Covered = d.CoveredHours > 0
	}
	r.Days = days

	// Gaps: maximal runs of uncovered days in the range.
	for i := 0; i < n; {
		if days[i].Covered {
			i++
			continue
		}
		j := i
		for j+1 < n && !days[j+1].Covered {
			j++
		}
		first, last := days[i].Date, days[j].Date
		r.Gaps = append(r.Gaps, Gap{First: first, Last: last, Prev: first.AddDate(0, 0, -1), Next: last.AddDate(0, 0, 1), Days: j - i + 1})
		i = j + 1
	}

	// Periods.
	for start := in.By.start(in.From); start.Before(in.To); start = in.By.next(start) {
		p := Period{Label: in.By.label(start), Start: start, End: in.By.next(start)}
		for t := maxTime(start, in.From); t.Before(p.End) && t.Before(in.To); t = t.AddDate(0, 0, 1) {
			if d := days[index(t)]; d.Covered {
				p.CoveredDays++
				p.Sessions += d.Sessions
				p.Classes.add(d.Classes)
			}
		}
		last := p.End.AddDate(0, 0, -1)
		for _, g := range r.Gaps {
			if g.First.Before(p.End) && !g.Last.Before(p.Start) {
				s := Span{Start: p.Start, End: last}
				if !g.Prev.Before(p.Start) {
					s.Start = g.Prev
				}
				if g.Next.Before(p.End) {
					s.End = g.Next
				}
				p.Gaps = append(p.Gaps, s)
			}
		}
		r.Total += p.Sessions
		r.Classes.add(p.Classes)
		r.Periods = append(r.Periods, p)
	}
	return r
}

// clip cuts iv to [from, to) and reports whether anything of it is left. A
// zero-length interval (a single contact) is kept if it lies in the range.
func clip(iv Interval, from, to time.Time) (Interval, bool) {
	if !iv.Start.Before(to) || iv.End.Before(from) || iv.End.Equal(from) && iv.End.After(iv.Start) {
		return Interval{}, false
	}
	return Interval{Start: maxTime(iv.Start, from), End: minTime(iv.End, to)}, true
}

// markHours marks the hours that iv touches: those it overlaps, or for a
// zero-length interval the hour it is in.
func markHours(days []DayDetail, from time.Time, iv Interval) {
	end := iv.End
	if end.Equal(iv.Start) {
		end = end.Add(time.Nanosecond)
	}
	for h := iv.Start.Truncate(time.Hour); h.Before(end); h = h.Add(time.Hour) {
		if i := dayIndex(from, h); i >= 0 && i < len(days) {
			days[i].coveredHours[h.Hour()] = true
		}
	}
}

// addHours sets each day's live-session figures from the hour statistics:
// per hour the peak and the average over the sampled time, per day the peak
// and the average over the day's sampled time.
func addHours(days []DayDetail, from time.Time, hours []HourStat) {
	live := make([]uint64, len(days))
	sampled := make([]uint64, len(days))
	for _, h := range hours {
		i := dayIndex(from, h.Hour)
		if i < 0 || i >= len(days) || h.SampledMillis == 0 && h.Peak == 0 {
			continue
		}
		d := &days[i]
		hd := &d.Hours[h.Hour.Hour()]
		hd.Sampled = true
		hd.Peak = max(hd.Peak, h.Peak)
		if h.SampledMillis > 0 {
			hd.Average = float64(h.LiveMillis) / float64(h.SampledMillis)
		}
		d.Peak = max(d.Peak, h.Peak)
		live[i] += h.LiveMillis
		sampled[i] += h.SampledMillis
	}
	for i := range days {
		if sampled[i] > 0 {
			days[i].Average = float64(live[i]) / float64(sampled[i])
		}
	}
}

// dayIndex returns the number of days from from to t's day (negative before).
func dayIndex(from, t time.Time) int {
	d := t.Sub(from)
	i := int(d / day)
	if d < 0 && d%day != 0 {
		i--
	}
	return i
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
