// Package export is the one pipeline from stored numbers to a report: a
// store snapshot (read from the file, or from the agent that holds it) becomes
// report.Input and then a report.Report. `headcount export`, the scheduled
// report files and every later report source go through it, so they cannot
// disagree.
package export

import (
	"time"

	"headcount/report"
	"headcount/store"
)

// Report builds the report of the days from ≤ d < to, by granularity, from
// what the store read. now is the wall clock: the days after its UTC day
// have not happened and are left out (neither covered nor gaps).
func Report(s store.Snapshot, from, to time.Time, by report.Granularity, env string, now time.Time) report.Report {
	return report.Build(Input(s, from, to, by, env, now))
}

// Input converts what the store read into a report's input, every day's
// sessions with their bot and unclassified parts; now is the wall clock,
// whose UTC day is the report's today. Its Bots is IncludeBots, the seed's
// sessions: a caller that leaves the bots out sets it before report.Build.
func Input(s store.Snapshot, from, to time.Time, by report.Granularity, env string, now time.Time) report.Input {
	in := report.Input{From: from, To: to, By: by, Environment: env, Today: now.UTC(),
		Days:     make([]report.DaySessions, 0, len(s.Days)),
		Hours:    make([]report.HourStat, 0, len(s.Hours)),
		Coverage: make([]report.Interval, 0, len(s.Coverage)),
	}
	for _, d := range s.Days {
		in.Days = append(in.Days, report.DaySessions{Day: d.Day, Sessions: d.Sessions, Bots: d.Bots, Unclassified: d.Unclassified})
	}
	for _, h := range s.Hours {
		in.Hours = append(in.Hours, report.HourStat{Hour: h.Hour, Peak: h.Peak, LiveMillis: h.LiveMillis, SampledMillis: h.SampledMillis})
	}
	for _, iv := range s.Coverage {
		in.Coverage = append(in.Coverage, report.Interval{Start: iv.Start, End: iv.End})
	}
	in.Imported = s.Imported
	return in
}
