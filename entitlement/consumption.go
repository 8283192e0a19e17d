package entitlement

import "time"

// Consumption is a licence's use in its current contract year.
type Consumption struct {
	YearStart, YearEnd time.Time // the contract year containing the day, YearEnd excluded
	Entitled, Used     uint64
	Percent            float64
	DailyRate          float64   // sessions a day over the recent days
	RunsOut            time.Time // the day the entitlement is forecast to run out, zero if not in this contract year
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
// the contract year so far and the sessions of the recent days (recentDays
// of them, up to day).
func (l License) Forecast(day time.Time, used, recent uint64, recentDays int) Consumption {
	u := Consumption{Entitled: l.Sessions, Used: used}
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

// RecentDays is how many days, up to today, the forecast's daily rate
// averages.
const RecentDays = 30

// DaySessions is the number of sessions counted on one UTC day.
type DaySessions struct {
	Day      time.Time
	Sessions uint64
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

// Consume sums the sessions of l's contract year containing now and of the
// last RecentDays days (days may hold more), and forecasts.
func (l License) Consume(now time.Time, days []DaySessions) Consumption {
	today := now.UTC().Truncate(24 * time.Hour)
	start, _ := l.ContractYear(today)
	recentFrom := today.AddDate(0, 0, -RecentDays+1)
	var used, recent uint64
	for _, d := range days {
		if d.Day.After(today) {
			continue
		}
		if !d.Day.Before(start) {
			used += d.Sessions
		}
		if !d.Day.Before(recentFrom) {
			recent += d.Sessions
		}
	}
	return l.Forecast(today, used, recent, RecentDays)
}
