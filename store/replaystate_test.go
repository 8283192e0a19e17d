package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// snapshotJSON returns everything a report reads of the database, as JSON.
func snapshotJSON(t *testing.T, db *DB) string {
	t.Helper()
	snap, err := db.Snapshot(day(2024, 1, 1), day(2025, 1, 1), Parts{Hours: true, Windows: true})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// ReplayFlush with days to replace empties them (sessions, sessions by hour, windows, hour statistics,
// the coverage within them, cut at midnight) and writes the new counts and the replay state in one
// transaction: when the transaction fails after the emptying, the old days are all there; when it
// lands, the day holds only the new counts, the days around it are untouched and Check finds the sums
// right.
func TestReplayFlush_ReplacesInOneTransaction(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "headcount.db"), readWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer MustClose(t, db)
	MustFlush(t, db, Flush{
		Days:         []DayCount{{Day: day(2024, 3, 9), Sessions: 3}, {Day: day(2024, 3, 10), Sessions: 5, Bots: 1}},
		Hours:        []HourStat{{Hour: at(2024, 3, 9, 23, 0, 0), Peak: 2, LiveMillis: 1000, SampledMillis: 3600000}, {Hour: at(2024, 3, 10, 9, 0, 0), Peak: 4, LiveMillis: 1000, SampledMillis: 5000}},
		HourSessions: []HourCount{{Hour: at(2024, 3, 9, 23, 0, 0), Sessions: 3}, {Hour: at(2024, 3, 10, 9, 0, 0), Sessions: 5, Bots: 1}},
		Windows:      []WindowCount{{Start: at(2024, 3, 9, 23, 50, 0), Sessions: 3}, {Start: at(2024, 3, 10, 9, 0, 0), Sessions: 5, Bots: 1}},
		Coverage:     []Interval{{Start: at(2024, 3, 9, 22, 0, 0), End: at(2024, 3, 10, 10, 0, 0)}},
		Started:      8, Completed: map[string]uint64{"idle": 8}, Now: at(2024, 3, 10, 10, 0, 0),
	})
	before := snapshotJSON(t, db)
	replay := Flush{Days: []DayCount{{Day: day(2024, 3, 10), Sessions: 2}}, HourSessions: []HourCount{{Hour: at(2024, 3, 10, 7, 0, 0), Sessions: 2}},
		Windows:  []WindowCount{{Start: at(2024, 3, 10, 7, 30, 0), Sessions: 2}},
		Coverage: []Interval{{Start: at(2024, 3, 10, 6, 0, 0), End: at(2024, 3, 10, 8, 0, 0)}},
		Started:  2, Completed: map[string]uint64{"idle": 2}, Now: at(2024, 3, 11, 0, 0, 0)}
	st := ReplayState{Settled: at(2024, 3, 10, 8, 0, 0), Files: []ReplayFile{{Name: "access.log", Device: 1, Inode: 2, Size: 300, Offset: 200}}}

	replay.Seq = 7 // not the next flush: refused inside the transaction, after the emptying
	if _, err := db.ReplayFlush(replay, st, []time.Time{day(2024, 3, 10)}); !errors.Is(err, ErrFlushSequence) {
		t.Fatalf("ReplayFlush with a wrong sequence = %v, want ErrFlushSequence", err)
	}
	if got := snapshotJSON(t, db); got != before {
		t.Fatalf("a failed ReplayFlush changed the database:\n%s\nwant\n%s", got, before)
	}
	if _, found, err := db.ReplayState(); found || err != nil {
		t.Fatalf("a failed ReplayFlush stored a replay state (%v, %v)", found, err)
	}

	replay.Seq = 2
	if aside, err := db.ReplayFlush(replay, st, []time.Time{at(2024, 3, 10, 12, 0, 0)}); err != nil || len(aside) > 0 {
		t.Fatalf("ReplayFlush: %v, set aside %v", err, aside)
	}
	snap, err := db.Snapshot(day(2024, 1, 1), day(2025, 1, 1), Parts{Hours: true, Windows: true})
	if err != nil {
		t.Fatal(err)
	}
	want := Snapshot{
		Days:         []DayCount{{Day: day(2024, 3, 9), Sessions: 3}, {Day: day(2024, 3, 10), Sessions: 2}},
		Hours:        []HourStat{{Hour: at(2024, 3, 9, 23, 0, 0), Peak: 2, LiveMillis: 1000, SampledMillis: 3600000}},
		HourSessions: []HourCount{{Hour: at(2024, 3, 9, 23, 0, 0), Sessions: 3}, {Hour: at(2024, 3, 10, 7, 0, 0), Sessions: 2}},
		Windows:      []WindowCount{{Start: at(2024, 3, 9, 23, 50, 0), Sessions: 3}, {Start: at(2024, 3, 10, 7, 30, 0), Sessions: 2}},
		Coverage:     []Interval{{Start: at(2024, 3, 9, 22, 0, 0), End: at(2024, 3, 10, 0, 0, 0)}, {Start: at(2024, 3, 10, 6, 0, 0), End: at(2024, 3, 10, 8, 0, 0)}},
	}
	if !reflect.DeepEqual(snap, want) {
		t.Errorf("after the replacement:\n%+v\nwant\n%+v", snap, want)
	}
	got, found, err := db.ReplayState()
	st.Days = []DayCount{{Day: day(2024, 3, 9), Sessions: 3}, {Day: day(2024, 3, 10), Sessions: 2}}
	if err != nil || !found || !reflect.DeepEqual(got, st) {
		t.Errorf("ReplayState() = %+v, %v, %v; want %+v", got, found, err, st)
	}
	r, err := db.Check(at(2024, 3, 11, 0, 0, 0))
	if err != nil || len(r.Problems) > 0 {
		t.Errorf("Check = %+v, %v", r, err)
	}
}
