package export

import (
	"slices"
	"testing"
	"time"

	"headcount/report"
	"headcount/store"
)

// TestMerge_HAPair: two databases of one account whose coverage holes do not
// overlap merge into a report with no gap; their sessions add per day, by
// class; the hour peaks add (an upper bound) and the average is the sum of
// the averages over a fully sampled hour.
func TestMerge_HAPair(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2026, 3, day, 0, 0, 0, 0, time.UTC) }
	a := store.Snapshot{Environment: "PROD",
		Days:     []store.DayCount{{Day: d(1), Sessions: 10, Bots: 2, Unclassified: 1}, {Day: d(2), Sessions: 5}},
		Hours:    []store.HourStat{{Hour: d(1).Add(9 * time.Hour), Peak: 4, LiveMillis: 2 * 3600000, SampledMillis: 3600000}},
		Coverage: []store.Interval{{Start: d(1), End: d(3)}, {Start: d(5), End: d(8)}}, // hole: days 3 and 4
	}
	b := store.Snapshot{Environment: "PROD",
		Days:     []store.DayCount{{Day: d(2), Sessions: 7, Bots: 1}, {Day: d(4), Sessions: 3, Unclassified: 3}},
		Hours:    []store.HourStat{{Hour: d(1).Add(9 * time.Hour), Peak: 3, LiveMillis: 3600000, SampledMillis: 3600000}},
		Coverage: []store.Interval{{Start: d(2).Add(time.Hour), End: d(5).Add(time.Hour)}}, // covers the hole
	}
	m := Merge(a, b)
	wantDays := []store.DayCount{{Day: d(1), Sessions: 10, Bots: 2, Unclassified: 1}, {Day: d(2), Sessions: 12, Bots: 1}, {Day: d(4), Sessions: 3, Unclassified: 3}}
	if !slices.Equal(m.Days, wantDays) {
		t.Errorf("days %+v\nwant %+v", m.Days, wantDays)
	}
	if want := []store.Interval{{Start: d(1), End: d(8)}}; !slices.Equal(m.Coverage, want) {
		t.Errorf("coverage %+v, want the union %+v", m.Coverage, want)
	}
	if want := []store.HourStat{{Hour: d(1).Add(9 * time.Hour), Peak: 7, LiveMillis: 3 * 3600000, SampledMillis: 3600000}}; !slices.Equal(m.Hours, want) {
		t.Errorf("hours %+v, want %+v", m.Hours, want)
	}
	if m.Environment != "PROD" {
		t.Errorf("environment %q, want PROD", m.Environment)
	}

	r := Report(m, d(1), d(8), report.Month, m.Environment, d(20))
	if len(r.Gaps) != 0 || r.Total != 25 || r.Classes != (report.Classes{Human: 18, Bots: 3, Unclassified: 4}) {
		t.Errorf("merged report: gaps %+v, total %d, classes %+v; want no gap, 25 = 18 human + 3 bots + 4 unclassified", r.Gaps, r.Total, r.Classes)
	}
	if alone := Report(a, d(1), d(8), report.Month, "PROD", d(20)); len(alone.Gaps) != 1 {
		t.Errorf("a alone has gaps %+v, want its hole", alone.Gaps)
	}
	if r.Days[0].Peak != 7 || r.Days[0].Hours[9].Average != 3 {
		t.Errorf("day 1: peak %d, hour 9 average %v; want 7 (4+3) and 3 (2+1)", r.Days[0].Peak, r.Days[0].Hours[9].Average)
	}
}

// TestMerge_Coverage: the union sorts, joins overlapping and touching
// intervals, keeps separate ones apart, and drops a single contact inside
// another interval; environments are distinct, sorted, joined with "+".
func TestMerge_Coverage(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 3, 1, h, 0, 0, 0, time.UTC) }
	m := Merge(
		store.Snapshot{Environment: "UAT", Coverage: []store.Interval{{Start: at(5), End: at(7)}, {Start: at(1), End: at(2)}}},
		store.Snapshot{Environment: "PROD", Coverage: []store.Interval{{Start: at(2), End: at(3)}, {Start: at(6), End: at(6)}, {Start: at(9), End: at(9)}}},
		store.Snapshot{Environment: "UAT"},
	)
	want := []store.Interval{{Start: at(1), End: at(3)}, {Start: at(5), End: at(7)}, {Start: at(9), End: at(9)}}
	if !slices.Equal(m.Coverage, want) {
		t.Errorf("coverage %+v\nwant %+v", m.Coverage, want)
	}
	if m.Environment != "PROD+UAT" {
		t.Errorf("environment %q, want PROD+UAT", m.Environment)
	}
	if got := Earliest(m); !got.Equal(at(1)) {
		t.Errorf("earliest %v, want %v", got, at(1))
	}
	if got := Earliest(store.Snapshot{}); !got.IsZero() {
		t.Errorf("earliest of no coverage %v, want zero", got)
	}
}
