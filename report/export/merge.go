package export

import (
	"slices"
	"strings"
	"time"

	"headcount/store"
)

// Merge returns the snapshots of several databases of one account (an HA
// pair, or agents behind several HAProxy nodes) as one: sessions add per day
// (and their bot and unclassified parts), coverage is the union of the
// databases' coverage, so a day is covered when any of them metered it.
//
// Two databases that metered the same moment both count: each agent counted
// the sessions it saw. A client whose requests reached two agents (an
// active/active pair) is counted once by each; an active/standby pair sends
// a client to the standby only while the active one is down.
//
// Hour statistics add: the peaks add, so the merged peak is an upper bound
// (the agents' peaks may have come at different moments of the hour); the
// live session-time adds and the sampled time is the longest of the
// databases', so the merged average is the sum of averages over a fully
// sampled hour. Sessions per hour and per 10-minute window add. The
// environment is the databases' stored environments, distinct, sorted and
// joined with "+".
func Merge(snaps ...store.Snapshot) store.Snapshot {
	if len(snaps) == 1 {
		return snaps[0]
	}
	var m store.Snapshot
	days := map[int64]*store.DayCount{}
	hours := map[int64]*store.HourStat{}
	hourSessions := map[int64]*store.HourCount{}
	windows := map[int64]*store.WindowCount{}
	imported := map[int64]time.Time{}
	var envs []string
	for _, s := range snaps {
		if s.Environment != "" && !slices.Contains(envs, s.Environment) {
			envs = append(envs, s.Environment)
		}
		accumulate(days, s.Days, dayOf, func(t *store.DayCount, d store.DayCount) {
			t.Sessions += d.Sessions
			t.Bots += d.Bots
			t.Unclassified += d.Unclassified
		})
		accumulate(hours, s.Hours, hourStatOf, func(t *store.HourStat, h store.HourStat) {
			t.Peak += h.Peak
			t.LiveMillis += h.LiveMillis
			t.SampledMillis = max(t.SampledMillis, h.SampledMillis)
		})
		accumulate(hourSessions, s.HourSessions, hourCountOf, func(t *store.HourCount, h store.HourCount) {
			t.Sessions += h.Sessions
			t.Bots += h.Bots
			t.Unclassified += h.Unclassified
		})
		accumulate(windows, s.Windows, windowOf, func(t *store.WindowCount, w store.WindowCount) {
			t.Sessions += w.Sessions
			t.Bots += w.Bots
			t.Unclassified += w.Unclassified
		})
		for _, d := range s.Imported {
			imported[d.Unix()] = d
		}
		m.Coverage = append(m.Coverage, s.Coverage...)
	}
	slices.Sort(envs)
	m.Environment = strings.Join(envs, "+")
	m.Days = sortedValues(days, dayOf)
	m.Hours = sortedValues(hours, hourStatOf)
	m.HourSessions = sortedValues(hourSessions, hourCountOf)
	m.Windows = sortedValues(windows, windowOf)
	for _, d := range imported {
		m.Imported = append(m.Imported, d)
	}
	slices.SortFunc(m.Imported, time.Time.Compare)
	m.Coverage = union(m.Coverage)
	return m
}

// Earliest returns the start of the earliest coverage of s; zero when it has
// none.
func Earliest(s store.Snapshot) time.Time {
	var first time.Time
	for _, iv := range s.Coverage {
		if first.IsZero() || iv.Start.Before(first) {
			first = iv.Start
		}
	}
	return first
}

// The times the merged rows are keyed and sorted by.
func dayOf(d store.DayCount) time.Time        { return d.Day }
func hourStatOf(h store.HourStat) time.Time   { return h.Hour }
func hourCountOf(h store.HourCount) time.Time { return h.Hour }
func windowOf(w store.WindowCount) time.Time  { return w.Start }

// accumulate adds each of items to the row of m with the same time (at),
// with add, or puts a copy of it in m when there is none yet.
func accumulate[T any](m map[int64]*T, items []T, at func(T) time.Time, add func(row *T, item T)) {
	for _, item := range items {
		if row := m[at(item).Unix()]; row != nil {
			add(row, item)
		} else {
			c := item
			m[at(item).Unix()] = &c
		}
	}
}

func sortedValues[T any](m map[int64]*T, key func(T) time.Time) []T {
	if len(m) == 0 {
		return nil
	}
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b T) int { return key(a).Compare(key(b)) })
	return out
}

// union returns the intervals' union: sorted, overlapping or touching ones
// joined. A zero-length interval (a single contact) inside another is
// dropped; one on its own is kept.
func union(ivs []store.Interval) []store.Interval {
	if len(ivs) == 0 {
		return ivs
	}
	slices.SortFunc(ivs, func(a, b store.Interval) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.End.Compare(b.End)
	})
	out := []store.Interval{ivs[0]}
	for _, iv := range ivs[1:] {
		last := &out[len(out)-1]
		if iv.Start.After(last.End) {
			out = append(out, iv)
			continue
		}
		if iv.End.After(last.End) {
			last.End = iv.End
		}
	}
	return out
}
