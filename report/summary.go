package report

import (
	"slices"
	"time"
)

// Summary is the license-manager style summary of a range (as SFLM's
// daily, weekly, monthly and yearly summary files): per period, how long
// live sessions were sampled, their peak and averages, and the
// session-hours, for the whole period, per hour of day (UTC) and, for
// weeks and longer, per weekday.
//
// It is built from the hourly live-session statistics alone (HourStat):
// an hour the agent sampled has a peak, a sampled time and the integral of
// live sessions over it. An hour with no statistics is left out of every
// figure, never averaged in as zero. A covered day with no statistics at
// all (imported history, or a day metered by a version that kept none) is
// counted in UnknownDays: its figures are unknown, not zero.
//
// The statistics carry no class: live sessions are not split into humans
// and bots, so the summary has no such split.
type Summary struct {
	Environment string
	// From and To bound the days summarised (To excluded); To ends at
	// today when the range reaches past it, as in Report.
	From, To time.Time
	// RangeTo is the TO asked for.
	RangeTo time.Time
	// EndsAtToday is today when the range reaches past it; zero otherwise.
	EndsAtToday time.Time
	By          Granularity
	Periods     []SummaryPeriod
}

// SummaryPeriod is one period of a summary.
type SummaryPeriod struct {
	Label      string
	Start, End time.Time // the whole calendar period, half-open
	// Days is the number of the period's days within the summary's range.
	Days int
	// UnknownDays is the number of those days that coverage touches but
	// that have no hourly statistics: their live sessions are unknown and
	// in none of the figures.
	UnknownDays int
	// All is the whole period; its Busiest is the mean of the 5 busiest
	// metered days of each week (Sunday to Saturday, cut to the period),
	// pooled (overWeeks), a day's figure being the mean of its 8 busiest
	// hours' average live sessions (fewer when fewer were metered). For a
	// day that is the day's own figure.
	All Profile
	// Hours[h] is the hour of day h (UTC) over the period's days; its
	// Busiest is, as All's, the mean of the 5 busiest of each week's hours
	// h, by their average live sessions, pooled.
	Hours [24]Profile
	// Weekdays[w] is weekday w (time.Sunday first) over the period's days;
	// its Busiest is the mean of those days' figures (each the mean of the
	// day's 8 busiest hours). Only for weeks and longer.
	Weekdays [7]Profile
	// Grid[w][h] is hour h of weekday w over the period's days, for the
	// heat strips; its Busiest is not set (use Mean). Only for weeks and
	// longer: a day's strip is its Hours (GridCell gives either).
	Grid *[7][24]Profile
}

// GridCell returns hour h of weekday w over the period's days: from Grid,
// or for a day, which has one weekday, from Hours.
func (p SummaryPeriod) GridCell(w time.Weekday, h int) Profile {
	if p.Grid == nil {
		if p.Start.Weekday() != w {
			return Profile{}
		}
		return p.Hours[h]
	}
	return p.Grid[w][h]
}

// HasWeekdays reports whether the period's granularity has weekday
// figures: weeks and longer.
func (p SummaryPeriod) HasWeekdays(by Granularity) bool { return by != Day }

// Profile is a set of hours' live-session statistics, summed.
type Profile struct {
	// Hours is the number of hours with statistics in the set; none: the
	// set was not metered (or is unknown) and every figure is empty.
	Hours int
	// SampledMillis is the time the live sessions were sampled, in
	// milliseconds; LiveMillis is their integral over it, in
	// session-milliseconds.
	SampledMillis, LiveMillis uint64
	// Peak is the most live sessions seen at once.
	Peak uint64
	// Busiest is the average over the busiest hours and days, as the
	// field holding the Profile defines it; valid when Averaged.
	Busiest  float64
	Averaged bool
}

// Metered reports whether some hour of p has statistics.
func (p Profile) Metered() bool { return p.Hours > 0 }

// Mean returns the mean of the live sessions over p's sampled time, and
// false when nothing was sampled.
func (p Profile) Mean() (float64, bool) {
	if p.SampledMillis == 0 {
		return 0, false
	}
	return float64(p.LiveMillis) / float64(p.SampledMillis), true
}

func (p *Profile) add(c hourCell) {
	if !c.stats {
		return
	}
	p.Hours++
	p.SampledMillis += c.sampled
	p.LiveMillis += c.live
	p.Peak = max(p.Peak, c.peak)
}

// hourCell is one UTC hour's statistics.
type hourCell struct {
	stats         bool // a statistic is stored for the hour
	sampled, live uint64
	peak          uint64
}

// average returns the hour's average live sessions, and false when it was
// not sampled.
func (c hourCell) average() (float64, bool) {
	if !c.stats || c.sampled == 0 {
		return 0, false
	}
	return float64(c.live) / float64(c.sampled), true
}

// Busiest counts of SFLM's averages: the 8 busiest hours of a day, the 5
// busiest days of a week.
const (
	busiestHours = 8
	busiestDays  = 5
)

// meanOfTop returns the mean of the k largest of values (all of them when
// there are fewer), and false when there are none.
func meanOfTop(values []float64, k int) (float64, bool) {
	top := largest(values, k)
	if len(top) == 0 {
		return 0, false
	}
	var sum float64
	for _, v := range top {
		sum += v
	}
	return sum / float64(len(top)), true
}

// largest returns the k largest of values (all of them when there are
// fewer), largest first, in a new slice.
func largest(values []float64, k int) []float64 {
	sorted := slices.Clone(values)
	slices.SortFunc(sorted, func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	return sorted[:min(k, len(sorted))]
}

// BuildSummary computes the summary of in's range by in.By from its hourly
// statistics and coverage; days and bots play no part. The range ends at
// today as Build's does.
func BuildSummary(in Input) Summary {
	r := Build(in)
	s := Summary{Environment: r.Environment, From: r.From, To: r.To, RangeTo: r.RangeTo, EndsAtToday: r.EndsAtToday, By: r.By}
	n := len(r.Days)
	cells := make([][24]hourCell, n)
	for _, h := range in.Hours {
		i := dayIndex(r.From, h.Hour)
		if i < 0 || i >= n || h.SampledMillis == 0 && h.Peak == 0 {
			continue // as Build's day detail: an hour never sampled has no statistics
		}
		c := &cells[i][h.Hour.Hour()]
		c.stats = true
		c.sampled += h.SampledMillis
		c.live += h.LiveMillis
		c.peak = max(c.peak, h.Peak)
	}
	// dayFigure[i]: the mean of day i's 8 busiest hours' averages.
	dayFigure := make([]float64, n)
	dayMetered := make([]bool, n)
	unknown := make([]bool, n)
	for i := range cells {
		var averages []float64
		stats := false
		for _, c := range cells[i] {
			stats = stats || c.stats
			if a, ok := c.average(); ok {
				averages = append(averages, a)
			}
		}
		dayFigure[i], dayMetered[i] = meanOfTop(averages, busiestHours)
		unknown[i] = r.Days[i].Covered && !stats
	}

	for _, rp := range r.Periods {
		p := SummaryPeriod{Label: rp.Label, Start: rp.Start, End: rp.End}
		if p.HasWeekdays(s.By) {
			p.Grid = new([7][24]Profile)
		}
		a := dayIndex(r.From, maxTime(rp.Start, r.From))
		b := a + periodDays(r, rp)
		p.Days = b - a
		for i := a; i < b; i++ {
			if unknown[i] {
				p.UnknownDays++
			}
			w := r.Days[i].Date.Weekday()
			for h, c := range cells[i] {
				p.All.add(c)
				p.Hours[h].add(c)
				p.Weekdays[w].add(c)
				if p.Grid != nil {
					p.Grid[w][h].add(c)
				}
			}
		}
		// The busiest averages: the 5 busiest days of each week (cut to
		// the period), pooled.
		p.All.Busiest, p.All.Averaged = overWeeks(r, a, b, func(i int) (float64, bool) { return dayFigure[i], dayMetered[i] })
		for h := range p.Hours {
			p.Hours[h].Busiest, p.Hours[h].Averaged = overWeeks(r, a, b, func(i int) (float64, bool) { return cells[i][h].average() })
		}
		if p.HasWeekdays(s.By) {
			var byWeekday [7][]float64
			for i := a; i < b; i++ {
				if dayMetered[i] {
					w := r.Days[i].Date.Weekday()
					byWeekday[w] = append(byWeekday[w], dayFigure[i])
				}
			}
			for w := range p.Weekdays {
				p.Weekdays[w].Busiest, p.Weekdays[w].Averaged = meanOfTop(byWeekday[w], len(byWeekday[w]))
			}
		}
		s.Periods = append(s.Periods, p)
	}
	return s
}

// overWeeks returns, over the days a ≤ i < b of r, the mean of the busiest
// days of every week pooled: from each Sunday-to-Saturday week (cut to the
// period) its 5 largest figures, the days without a figure left out. A piece
// of a week at the period's edge thus weighs by the days it gives, not as
// much as a whole week (August 2026 starts on a Saturday: as one week of its
// own, that Saturday would weigh as much as a whole working week). False when
// no day has a figure.
func overWeeks(r Report, a, b int, figure func(i int) (float64, bool)) (float64, bool) {
	var pooled []float64
	for i := a; i < b; {
		end := min(b, i+7-int(r.Days[i].Date.Weekday())) // the next Sunday, or b
		var values []float64
		for ; i < end; i++ {
			if v, ok := figure(i); ok {
				values = append(values, v)
			}
		}
		pooled = append(pooled, largest(values, busiestDays)...)
	}
	return meanOfTop(pooled, len(pooled))
}
