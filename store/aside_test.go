package store

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"go.etcd.io/bbolt"
)

// An entry the store cannot count where it belongs — from a wall clock set to 1969, an interval
// ending before it starts, a racing counter's peak of 2^64-1 — is set aside and recorded; the rest of
// the flush lands, and so do the flushes after it. Before, the store refused the whole flush, and the
// meter kept it pending forever, refusing every later flush with it.
func TestDB_FlushSetsAside(t *testing.T) {
	db := MustCreate(t)
	MustFlush(t, db, sampleFlush) // flush 1
	f := Flush{
		Days:      []DayCount{{Day: day(2024, 3, 10), Sessions: 1}, {Day: at(1969, 12, 31, 23, 0, 0), Sessions: 3}},
		Windows:   []WindowCount{{Start: at(2024, 3, 10, 9, 0, 0), Sessions: 1}, {Start: at(1969, 12, 31, 23, 50, 0), Sessions: 3}},
		Hours:     []HourStat{{at(1969, 12, 31, 23, 0, 0), 2, 10, 10}, {at(2024, 3, 10, 10, 0, 0), math.MaxUint64, 10, 10}, {at(2024, 3, 10, 11, 0, 0), 9, 10, 10}},
		Coverage:  []Interval{{at(1969, 12, 31, 23, 0, 0), at(1969, 12, 31, 23, 0, 9)}, {at(2024, 3, 10, 9, 0, 5), at(2024, 3, 10, 9, 0, 4)}, {at(2024, 3, 10, 10, 0, 0), at(2024, 3, 10, 10, 0, 5)}},
		Started:   4, // 9 ever started: a peak of 9 is possible, 2^64-1 is not
		Completed: map[string]uint64{"idle": 4},
		Now:       at(1969, 12, 31, 23, 59, 0),
		Seq:       2,
	}
	aside, err := db.Flush(f)
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	want := []string{
		"flush 2: day of 1969-12-31T23:00:00Z with 3 sessions: day 1969-12-31T23:00:00Z is outside the years 1970-9999",
		"flush 2: window of 1969-12-31T23:50:00Z with 3 sessions: window 1969-12-31T23:50:00Z is outside the years 1970-9999",
		"flush 2: hour of 1969-12-31T23:00:00Z (peak 2, 10 ms live, 10 ms sampled): hour 1969-12-31T23:00:00Z is outside the years 1970-9999",
		"flush 2: hour of 2024-03-10T10:00:00Z (peak 18446744073709551615, 10 ms live, 10 ms sampled): peak 18446744073709551615 exceeds the 9 sessions ever started",
		"flush 2: coverage 1969-12-31T23:00:00Z to 1969-12-31T23:00:09Z: coverage start 1969-12-31T23:00:00Z is outside the years 1970-9999",
		"flush 2: coverage 2024-03-10T09:00:05Z to 2024-03-10T09:00:04Z: coverage ends at 2024-03-10T09:00:04Z before it starts at 2024-03-10T09:00:05Z",
		"flush 2: flush time 1969-12-31T23:59:00Z: flush time 1969-12-31T23:59:00Z is outside the years 1970-9999",
	}
	var got []string
	for _, e := range aside {
		got = append(got, e.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("set aside:\n%q\nwant\n%q", got, want)
	}

	// Everything else landed; the flush time stayed the last storable one.
	wantState := state{
		days:     []DayCount{{Day: day(2024, 3, 10), Sessions: 3}},
		hours:    []HourStat{sampleState.hours[0], {at(2024, 3, 10, 11, 0, 0), 9, 10, 10}},
		coverage: []Interval{sampleState.coverage[0], {at(2024, 3, 10, 10, 0, 0), at(2024, 3, 10, 10, 0, 5)}},
		counters: Counters{Started: 9, Completed: 6, CompletedByReason: map[string]uint64{"idle": 6},
			LastFlush: sampleState.counters.LastFlush, FlushCount: 2},
	}
	if got := MustState(t, db); !reflect.DeepEqual(got, wantState) {
		t.Errorf("after the flush:\n got %+v\nwant %+v", got, wantState)
	}
	// Check accounts for the sessions set aside and lists every entry, with no problem.
	r, err := db.Check(at(2024, 3, 10, 12, 0, 0))
	if err != nil || len(r.Problems) != 0 || !reflect.DeepEqual(r.SetAside, aside) {
		t.Errorf("Check = %+v, %v; want no problems and the entries set aside", r, err)
	}
	// The next flush lands as usual.
	MustFlush(t, db, Flush{Days: []DayCount{{Day: day(2024, 3, 11), Sessions: 1}}, Started: 1, Completed: map[string]uint64{"idle": 1}, Now: at(2024, 3, 11, 0, 0, 5)})
	if c, _ := db.Counters(); c.FlushCount != 3 || c.Completed != 7 {
		t.Errorf("the flush after: counters %+v, want flush 3 and 7 completed", c)
	}
}

// Samples merge into an hour across flushes; a flush that would push the hour past an hour of samples
// (a clock stepped back over it) is set aside rather than stored as an impossible hour.
func TestDB_FlushSetsAsideAnOverfullHour(t *testing.T) {
	db := MustCreate(t)
	h := at(2024, 3, 10, 9, 0, 0)
	MustFlush(t, db, Flush{Hours: []HourStat{{h, 1, 3_000_000, 3_000_000}}, Started: 1, Now: at(2024, 3, 10, 9, 50, 0)})
	aside, err := db.Flush(Flush{Hours: []HourStat{{h, 1, 700_000, 700_000}}, Now: at(2024, 3, 10, 9, 59, 0), Seq: 2})
	if err != nil || len(aside) != 1 || aside[0].Why != "the hour would hold 3700000 ms of samples, more than an hour" {
		t.Fatalf("Flush = %+v, %v; want the hour set aside for its samples", aside, err)
	}
	if hours, _ := db.Hours(h, h.Add(1e12)); len(hours) != 1 || hours[0].SampledMillis != 3_000_000 {
		t.Errorf("hours %+v, want the first flush's only", hours)
	}
}

// The pending file carries the flushes the database could not take to the next start: those the
// database holds are skipped, the others applied in order, times outside 1970-9999 included, and the
// file removed. One that does not continue the database's sequence is refused as a whole.
func TestDB_PendingFile(t *testing.T) {
	db := MustCreate(t)
	MustFlush(t, db, sampleFlush) // flush 1
	pending := []Flush{
		{Seq: 1, Days: []DayCount{{Day: day(2024, 3, 10), Sessions: 100}}, Completed: map[string]uint64{"idle": 100}, Now: at(2024, 3, 10, 9, 0, 5)}, // in the database already
		{Seq: 2, Days: []DayCount{{Day: day(2024, 3, 10), Sessions: 1}}, Windows: []WindowCount{{Start: at(2024, 3, 10, 9, 10, 0), Sessions: 1}},
			Hours: []HourStat{{at(2024, 3, 10, 9, 0, 0), 6, 7, 8}}, Coverage: []Interval{{at(2024, 3, 10, 9, 10, 0), at(2024, 3, 10, 9, 10, 5)}},
			Started: 2, Completed: map[string]uint64{"logout": 1}, Now: at(2024, 3, 10, 9, 10, 5)},
		{Seq: 3, Days: []DayCount{{Day: at(1969, 12, 31, 0, 0, 0), Sessions: 1}}, Started: 1, Completed: map[string]uint64{"idle": 1}, Now: at(2024, 3, 10, 9, 10, 10)},
	}
	if err := WritePending(db.Path(), pending); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadPending(db.Path()); err != nil || !reflect.DeepEqual(got, pending) {
		t.Fatalf("ReadPending = %+v, %v; want what was written", got, err)
	}
	if seqs, problem, err := CheckPending(db.Path(), 1); err != nil || problem != "" || !slices.Equal(seqs, []uint64{2, 3}) {
		t.Errorf("CheckPending = %v, %q, %v; want flushes 2 and 3 not applied", seqs, problem, err)
	}
	applied, aside, err := db.ApplyPending()
	if err != nil || !slices.Equal(applied, []uint64{2, 3}) || len(aside) != 1 || aside[0].Kind != AsideDay {
		t.Fatalf("ApplyPending = %v, %+v, %v; want flushes 2 and 3 applied, the 1969 day set aside", applied, aside, err)
	}
	c, _ := db.Counters()
	if c.Started != 8 || c.Completed != 4 || c.FlushCount != 3 || !c.LastFlush.Equal(at(2024, 3, 10, 9, 10, 10)) {
		t.Errorf("counters %+v; want started 8, completed 4 (flush 1 not applied twice), flush 3", c)
	}
	if _, err := os.Stat(PendingPath(db.Path())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pending file is still there after it was applied: %v", err)
	}
	if applied, _, err := db.ApplyPending(); err != nil || applied != nil {
		t.Errorf("a second ApplyPending = %v, %v; want nothing", applied, err)
	}

	// A pending file of another copy of the database (a backup restored under it).
	if err := WritePending(db.Path(), []Flush{{Seq: 9, Started: 1, Completed: map[string]uint64{}, Now: at(2024, 3, 10, 9, 20, 0)}}); err != nil {
		t.Fatal(err)
	}
	before := MustSum(t, db.Path())
	_, _, err = db.ApplyPending()
	want := "flush out of sequence: " + db.Path() + ".pending holds flush 9 but the database holds flush 3: the pending file is not this database's; move it aside to start without it (its counts are then not applied)"
	if !errors.Is(err, ErrFlushSequence) || err.Error() != want {
		t.Errorf("ApplyPending of another database's file: %v\nwant %s", err, want)
	}
	if MustSum(t, db.Path()) != before {
		t.Error("a refused pending file changed the database")
	}
	_, problem, _ := CheckPending(db.Path(), 3)
	if want := db.Path() + ".pending holds flush 9 where flush 4 comes next (the database holds flush 3): it is not this database's"; problem != want {
		t.Errorf("CheckPending problem %q, want %q", problem, want)
	}
}

// Check reports what only a fault or an edit can write: a day or hour after today, a peak above the
// sessions ever started.
func TestDB_CheckImpossibleValues(t *testing.T) {
	db := MustCreate(t)
	MustFlush(t, db, sampleFlush)
	path := db.Path()
	MustClose(t, db)
	MustBolt(t, path, func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketDays).Put(dayKey(day(2024, 3, 12)), encodeClasses(0, 0, 0)); err != nil {
			return err
		}
		return tx.Bucket(bucketHours).Put(hourKey(at(2024, 3, 10, 9, 0, 0)), encodeHour(HourStat{Peak: math.MaxUint64, LiveMillis: 1, SampledMillis: 1}))
	})
	db = MustOpen(t, path, readOnly)
	r, err := db.Check(at(2024, 3, 11, 22, 59, 59)) // an hour of tolerance: 23:00 would admit the 12th
	want := []string{
		"day 2024-03-12 holds 0 sessions but is after today (2024-03-11)",
		"hour 2024-03-10T09 has a peak of 18446744073709551615 live sessions but only 5 were ever started",
	}
	if err != nil || !slices.Equal(r.Problems, want) {
		t.Errorf("Check problems %q, %v; want %q", r.Problems, err, want)
	}
}

// Check reads the sessions by hour and the windows too: a value that cannot be decoded is an error, as
// a day's is (a report asking for hours or windows would fail on it); an hour or window after today is a
// problem, and so are the hours of a day holding more sessions of a class than the day.
func TestDB_CheckHourSessionsAndWindows(t *testing.T) {
	db := MustCreate(t)
	f := sampleFlush
	f.Days = []DayCount{{Day: day(2024, 3, 10), Sessions: 2, Bots: 1}}
	f.HourSessions = []HourCount{{Hour: at(2024, 3, 10, 9, 0, 0), Sessions: 2, Bots: 1}}
	f.Windows = []WindowCount{{Start: at(2024, 3, 10, 9, 0, 0), Sessions: 2, Bots: 1}}
	MustFlush(t, db, f)
	path := db.Path()
	now := at(2024, 3, 11, 22, 59, 59)
	if r, err := db.Check(now); err != nil || len(r.Problems) != 0 {
		t.Fatalf("Check of a consistent file: %q, %v", r.Problems, err)
	}
	MustClose(t, db)

	MustBolt(t, path, func(tx *bbolt.Tx) error {
		hours := tx.Bucket(bucketHourSessions)
		// The 10th's hours now hold 2 bots and 1 unclassified session; the day holds 1 and 0.
		if err := hours.Put(hourKey(at(2024, 3, 10, 23, 0, 0)), encodeClasses(2, 1, 1)); err != nil {
			return err
		}
		if err := hours.Put(hourKey(at(2024, 3, 12, 0, 0, 0)), encodeClasses(1, 0, 0)); err != nil {
			return err
		}
		return tx.Bucket(bucketWindows).Put(encodeSeconds(at(2024, 3, 12, 0, 0, 0)), encodeClasses(1, 0, 0))
	})
	db = MustOpen(t, path, readOnly)
	r, err := db.Check(now)
	want := []string{
		"hour 2024-03-12T00 holds 1 completed session but is after today (2024-03-11)",
		"the hours of 2024-03-10 hold 1 human, 2 bot and 1 unclassified sessions, more than the day's 1, 1 and 0",
		"the hours of 2024-03-12 hold 1 human, 0 bot and 0 unclassified sessions, more than the day's 0, 0 and 0",
		"window 2024-03-12T00:00:00Z holds 1 session but is after today (2024-03-11)",
	}
	if err != nil || !slices.Equal(r.Problems, want) {
		t.Errorf("Check problems %q, %v;\nwant %q", r.Problems, err, want)
	}
	MustClose(t, db)

	for _, bucket := range [][]byte{bucketHourSessions, bucketWindows} {
		MustBolt(t, path, func(tx *bbolt.Tx) error {
			return tx.Bucket(bucket).ForEach(func(k, _ []byte) error {
				return tx.Bucket(bucket).Put(k, encodeUint(1)) // a schema-1 value in a schema-2 file
			})
		})
		db = MustOpen(t, path, readOnly)
		if _, err := db.Check(now); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Check of a file with a %s value of 8 bytes: %v, want ErrCorrupt", bucket, err)
		}
		MustClose(t, db)
	}
}

// A pending file of the previous build (format 1: sessions only) reads as
// unclassified sessions; a format-2 file with a row of the wrong length is
// refused whole, never padded.
func TestReadPending_Formats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(PendingPath(path), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"format":"headcount pending flushes 1","flushes":[{"seq":2,"now":1710061805,"started":3,"completed":{"idle":3},` +
		`"days":[[1710028800,3]],"windows":[[1710061800,3]],"hours":[],"coverage":[]}]}`)
	got, err := ReadPending(path)
	if err != nil || len(got) != 1 {
		t.Fatalf("format 1: %+v, %v", got, err)
	}
	if d, w := got[0].Days, got[0].Windows; len(d) != 1 || d[0] != (DayCount{Day: day(2024, 3, 10), Sessions: 3, Unclassified: 3}) ||
		len(w) != 1 || w[0].Sessions != 3 || w[0].Unclassified != 3 || w[0].Bots != 0 {
		t.Errorf("format 1 read as days %+v, windows %+v; want 3 unclassified sessions", d, w)
	}
	damaged := PendingPath(path) + " is not a headcount pending file, or is damaged: move it aside to go on without it (the counts it holds are then not applied; keep it for the vendor)"
	for name, doc := range map[string]string{
		"short hour row": `{"format":"headcount pending flushes 2","flushes":[{"seq":2,"now":1710061805,"started":1,"completed":{"idle":1},` +
			`"days":[[1710028800,1,0,0]],"windows":[],"hours":[],"coverage":[],"hour_sessions":[[1710061200,1]]}]}`,
		"short day row": `{"format":"headcount pending flushes 2","flushes":[{"seq":2,"now":1710061805,"started":1,"completed":{"idle":1},` +
			`"days":[[1710028800,1]],"windows":[],"hours":[],"coverage":[]}]}`,
		"hour rows in format 1": `{"format":"headcount pending flushes 1","flushes":[{"seq":2,"now":1710061805,"started":1,"completed":{"idle":1},` +
			`"days":[[1710028800,1]],"windows":[],"hours":[],"coverage":[],"hour_sessions":[[1710061200,1,0,0]]}]}`,
	} {
		write(doc)
		if got, err := ReadPending(path); err == nil || err.Error() != damaged {
			t.Errorf("%s: %+v, %v; want %q", name, got, err, damaged)
		}
	}
}
