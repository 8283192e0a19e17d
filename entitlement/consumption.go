package entitlement

import "time"

// Consumption is a licence's use in its current contract year.
type Consumption struct {
	YearStart, YearEnd time.Time // the contract year containing the day, YearEnd excluded
	Entitled, Used     uint64
	Percent            float64
	DailyRate          float64   // sessions a day over the recent days that were metered
	RunsOut            time.Time // the day the entitlement is forecast to run out, zero if not in this contract year
	// RecentMetered is how many of the recent days were metered: the days
	// DailyRate averages. 0: none was, and DailyRate is 0 for want of data.
	RecentMetered int
}

// ContractYear returns the contract year of l that contains day: years run
// from contract_start's anniversaries.
func (l License) ContractYear(day time.Time) (start, end time.Time) {
	start = l.Start.Time
	for !start.AddDate(1, 0, 0).After(day) {
		start = start.AddDate(1, 0, 0)
	}
	return start, start.AddDate(1, 0, 0)
}

// Forecast computes the usage on day (a UTC day) from the sessions used in
// the contract year so far and the sessions of the recent days that were
// metered (recentDays of them, up to day).
func (l License) Forecast(day time.Time, used, recent uint64, recentDays int) Consumption {
	u := Consumption{Entitled: l.Sessions, Used: used, RecentMetered: recentDays}
	u.YearStart, u.YearEnd = l.ContractYear(day)
	if l.Sessions > 0 {
		u.Percent = float64(used) * 100 / float64(l.Sessions)
	}
	if recentDays > 0 {
		u.DailyRate = float64(recent) / float64(recentDays)
	}
	switch {
	case used >= l.Sessions:
		u.RunsOut = day
	case u.DailyRate > 0:
		days := int(float64(l.Sessions-used)/u.DailyRate + 0.999999)
		if out := day.AddDate(0, 0, days); out.Before(u.YearEnd) {
			u.RunsOut = out
		}
	}
	return u
}

// RecentDays is how many days, up to today, the forecast's daily rate looks
// back over; it averages those of them that were metered.
const RecentDays = 30

// DaySessions is the number of sessions counted on one UTC day, and whether
// the day was metered (coverage touches it). A day not metered has no known
// count: it is left out of the daily rate rather than averaged in as 0.
type DaySessions struct {
	Day      time.Time
	Sessions uint64
	Metered  bool
}

// ConsumptionRange returns the days from ≤ d < to whose sessions Consume
// needs at now: the contract year so far and the last RecentDays.
func (l License) ConsumptionRange(now time.Time) (from, to time.Time) {
	today := now.UTC().Truncate(24 * time.Hour)
	start, _ := l.ContractYear(today)
	recentFrom := today.AddDate(0, 0, -RecentDays+1)
	if recentFrom.Before(start) {
		start = recentFrom
	}
	return start, today.AddDate(0, 0, 1)
}

// Consume sums the sessions of l's contract year containing now, and
// forecasts at the daily rate of the metered days among the last RecentDays
// (days may hold more). A day absent from days was not metered.
func (l License) Consume(now time.Time, days []DaySessions) Consumption {
	today := now.UTC().Truncate(24 * time.Hour)
	start, _ := l.ContractYear(today)
	recentFrom := today.AddDate(0, 0, -RecentDays+1)
	var used, recent uint64
	metered := map[time.Time]bool{}
	for _, d := range days {
		if d.Day.After(today) {
			continue
		}
		if !d.Day.Before(start) {
			used += d.Sessions
		}
		if d.Metered && !d.Day.Before(recentFrom) {
			recent += d.Sessions
			metered[d.Day.UTC().Truncate(24*time.Hour)] = true
		}
	}
	return l.Forecast(today, used, recent, len(metered))
}
