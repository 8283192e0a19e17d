package export

import (
	"testing"
	"time"

	"headcount/report"
	"headcount/store"
)

// TestInput_Classes: every stored day reaches the report with its bot and
// unclassified parts, so a report built from a snapshot splits its sessions
// as the store does and --bots exclude leaves the bots out.
func TestInput_Classes(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	snap := store.Snapshot{
		Days:     []store.DayCount{{Day: day, Sessions: 15, Bots: 3, Unclassified: 2}, {Day: day.AddDate(0, 0, 1), Sessions: 4, Unclassified: 4}},
		Coverage: []store.Interval{{Start: day, End: day.AddDate(0, 0, 2)}},
	}
	from, to := day, day.AddDate(0, 0, 2)
	in := Input(snap, from, to, report.Day, "PROD", to)
	want := []report.DaySessions{{Day: day, Sessions: 15, Bots: 3, Unclassified: 2}, {Day: day.AddDate(0, 0, 1), Sessions: 4, Unclassified: 4}}
	if len(in.Days) != len(want) || in.Days[0] != want[0] || in.Days[1] != want[1] || in.Bots != report.IncludeBots {
		t.Fatalf("days %+v, bots %v; want %+v and include", in.Days, in.Bots, want)
	}
	if r := Report(snap, from, to, report.Day, "PROD", to); r.Total != 19 || r.Classes != (report.Classes{Human: 10, Bots: 3, Unclassified: 6}) {
		t.Errorf("report total %d, classes %+v; want 19 = 10 human + 3 bots + 6 unclassified", r.Total, r.Classes)
	}
	in.Bots = report.ExcludeBots
	if r := report.Build(in); r.Total != 16 {
		t.Errorf("--bots exclude total %d, want 16 = 10 human + 6 unclassified", r.Total)
	}
}
