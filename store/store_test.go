package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// lockTimeout keeps the lock tests fast.
const lockTimeout = 50 * time.Millisecond

var (
	readWrite = Options{}
	readOnly  = Options{ReadOnly: true}
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func at(y int, m time.Month, d, h, min, s int) time.Time {
	return time.Date(y, m, d, h, min, s, 0, time.UTC)
}

// MustOpen opens path and closes it when the test ends.
func MustOpen(t *testing.T, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// MustCreate creates a headcount database in a fresh directory.
func MustCreate(t *testing.T) *DB {
	t.Helper()
	return MustOpen(t, filepath.Join(t.TempDir(), "headcount.db"), readWrite)
}

// MustClose closes db.
func MustClose(t *testing.T, db *DB) {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// MustFlush applies each flush to db, numbering those without a sequence number as the next flush.
func MustFlush(t *testing.T, db *DB, flushes ...Flush) {
	t.Helper()
	for _, f := range flushes {
		if f.Seq == 0 {
			f.Seq = MustNextSeq(t, db)
		}
		if _, err := db.Flush(f); err != nil {
			t.Fatal(err)
		}
	}
}

// MustNextSeq returns the sequence number the next flush to db must carry.
func MustNextSeq(t *testing.T, db *DB) uint64 {
	t.Helper()
	seq, err := db.FlushSeq()
	if err != nil {
		t.Fatal(err)
	}
	return seq + 1
}

// MustSum returns the SHA-256 of the file at path.
func MustSum(t *testing.T, path string) [sha256.Size]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// MustWriteFile writes data to path.
func MustWriteFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// MustBolt runs fn in a write transaction of the plain bbolt file at path, creating it if needed.
func MustBolt(t *testing.T, path string, fn func(*bbolt.Tx) error) {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// MustHeadcountFile creates a closed headcount database at path holding one flush.
func MustHeadcountFile(t *testing.T, path string) {
	t.Helper()
	db, err := Open(path, readWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	MustFlush(t, db, sampleFlush)
}

// MustState returns everything db holds.
func MustState(t *testing.T, db *DB) state {
	t.Helper()
	var s state
	var err error
	if s.days, err = db.Days(day(1970, 1, 1), day(9999, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if s.hours, err = db.Hours(day(1970, 1, 1), day(9999, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if s.coverage, err = db.Coverage(); err != nil {
		t.Fatal(err)
	}
	if s.counters, err = db.Counters(); err != nil {
		t.Fatal(err)
	}
	if s.environment, err = db.Environment(); err != nil {
		t.Fatal(err)
	}
	return s
}

type state struct {
	days        []DayCount
	hours       []HourStat
	coverage    []Interval
	counters    Counters
	environment string
}

func modeName(opts Options) string {
	if opts.ReadOnly {
		return "read-only"
	}
	return "read-write"
}

var sampleFlush = Flush{
	Days:      []DayCount{{Day: day(2024, 3, 10), Sessions: 2}},
	Hours:     []HourStat{{Hour: at(2024, 3, 10, 9, 0, 0), Peak: 4, LiveMillis: 1000, SampledMillis: 5000}},
	Coverage:  []Interval{{Start: at(2024, 3, 10, 9, 0, 0), End: at(2024, 3, 10, 9, 0, 5)}},
	Started:   5,
	Completed: map[string]uint64{"idle": 2},
	Now:       at(2024, 3, 10, 9, 0, 5),
}

var sampleState = state{
	days:     []DayCount{{Day: day(2024, 3, 10), Sessions: 2}},
	hours:    []HourStat{{Hour: at(2024, 3, 10, 9, 0, 0), Peak: 4, LiveMillis: 1000, SampledMillis: 5000}},
	coverage: []Interval{{Start: at(2024, 3, 10, 9, 0, 0), End: at(2024, 3, 10, 9, 0, 5)}},
	counters: Counters{
		Started:           5,
		Completed:         2,
		CompletedByReason: map[string]uint64{"idle": 2},
		LastFlush:         at(2024, 3, 10, 9, 0, 5),
		FlushCount:        1,
	},
	environment: "prod",
}

func TestOpen_FileMode(t *testing.T) {
	tests := []struct {
		name     string
		existing os.FileMode // mode of a database made beforehand; 0 for none
		opts     Options
		want     os.FileMode
	}{
		{name: "new file is 0600", opts: readWrite, want: 0o600},
		{name: "existing 0644 file keeps its mode", existing: 0o644, opts: readWrite, want: 0o644},
		{name: "existing 0640 file opened read-only keeps its mode", existing: 0o640, opts: readOnly, want: 0o640},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "headcount.db")
			if tc.existing != 0 {
				MustHeadcountFile(t, path)
				if err := os.Chmod(path, tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			db := MustOpen(t, path, tc.opts)
			if db.Path() != path {
				t.Errorf("Path() = %q, want %q", db.Path(), path)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != tc.want {
				t.Errorf("mode = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOpen_KeepsData(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{name: "read-write", opts: readWrite},
		{name: "read-only", opts: readOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "headcount.db")
			db := MustOpen(t, path, readWrite)
			MustFlush(t, db, sampleFlush)
			if _, err := db.SetEnvironment("prod"); err != nil {
				t.Fatal(err)
			}
			MustClose(t, db)

			got := MustState(t, MustOpen(t, path, tc.opts))
			if !reflect.DeepEqual(got, sampleState) {
				t.Errorf("after reopening:\n got %+v\nwant %+v", got, sampleState)
			}
		})
	}
}

func TestOpen_Missing(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		opts    Options
		wantIs  error
		wantMsg string // %s is the path
	}{
		{name: "read-only", file: "headcount.db", opts: readOnly, wantIs: ErrMissing,
			wantMsg: "%s: database file does not exist"},
		{name: "must exist", file: "headcount.db", opts: Options{MustExist: true}, wantIs: ErrMissing,
			wantMsg: "%s: database file does not exist"},
		{name: "read-write in a missing directory", file: "missing/headcount.db", opts: readWrite,
			wantIs: fs.ErrNotExist, wantMsg: "open %s: no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			db, err := Open(path, tc.opts)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.wantIs) {
				t.Errorf("Open: %v, want errors.Is %v", err, tc.wantIs)
			}
			if want := fmt.Sprintf(tc.wantMsg, path); err.Error() != want {
				t.Errorf("Open: %q, want %q", err, want)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open created %s (stat: %v)", path, err)
			}
		})
	}
}

func TestOpen_RejectsForeignFiles(t *testing.T) {
	tests := []struct {
		name   string
		wantIs error
		// prepare writes the file at path and returns the expected message after "<path>: ".
		prepare func(t *testing.T, path string) string
	}{
		{
			name:   "random bytes",
			wantIs: ErrNotHeadcount,
			prepare: func(t *testing.T, path string) string {
				data := make([]byte, 64<<10)
				r := rand.New(rand.NewPCG(1, 2))
				for i := range data {
					data[i] = byte(r.Uint32())
				}
				MustWriteFile(t, path, data)
				return "not a headcount database: bbolt: invalid database"
			},
		},
		{
			name:   "empty file",
			wantIs: ErrNotHeadcount,
			prepare: func(t *testing.T, path string) string {
				MustWriteFile(t, path, nil)
				return "not a headcount database: file is empty"
			},
		},
		{
			name:   "headcount database truncated to its meta pages",
			wantIs: ErrCorrupt,
			prepare: func(t *testing.T, path string) string {
				MustHeadcountFile(t, path)
				var pageSize, size int64
				MustBolt(t, path, func(tx *bbolt.Tx) error {
					pageSize, size = int64(tx.DB().Info().PageSize), tx.Size()
					return nil
				})
				if err := os.Truncate(path, 2*pageSize); err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("database is corrupt: file is truncated (%d of %d bytes)", 2*pageSize, size)
			},
		},
		{
			name:   "headcount database truncated inside its second page",
			wantIs: ErrCorrupt,
			prepare: func(t *testing.T, path string) string {
				MustHeadcountFile(t, path)
				if err := os.Truncate(path, 6000); err != nil {
					t.Fatal(err)
				}
				return "database is corrupt: bbolt: file size too small 6000"
			},
		},
		{
			name:   "headcount database with a zeroed page",
			wantIs: ErrCorrupt,
			prepare: func(t *testing.T, path string) string {
				MustHeadcountFile(t, path)
				var pageSize int
				MustBolt(t, path, func(tx *bbolt.Tx) error {
					pageSize = tx.DB().Info().PageSize
					return nil
				})
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteAt(make([]byte, pageSize), 2*int64(pageSize)); err != nil {
					t.Fatal(err)
				}
				return "database is corrupt: panic: assertion failed: Page expected to be: 2, but self identifies as 0"
			},
		},
		{
			name:   "bbolt file without a meta bucket",
			wantIs: ErrNotHeadcount,
			prepare: func(t *testing.T, path string) string {
				MustBolt(t, path, func(tx *bbolt.Tx) error {
					_, err := tx.CreateBucket([]byte("sessions"))
					return err
				})
				return "not a headcount database: no headcount meta bucket"
			},
		},
		{
			name:   "bbolt file with another program's meta bucket",
			wantIs: ErrNotHeadcount,
			prepare: func(t *testing.T, path string) string {
				MustBolt(t, path, func(tx *bbolt.Tx) error {
					b, err := tx.CreateBucket(bucketMeta)
					if err != nil {
						return err
					}
					return b.Put(keyMagic, []byte("othertool"))
				})
				return "not a headcount database: no headcount meta bucket"
			},
		},
		{
			// Builds of schema 1 refused schema-2 files with this error, as this one refuses schema 3.
			name:   "headcount database of schema 3",
			wantIs: ErrNewerSchema,
			prepare: func(t *testing.T, path string) string {
				MustHeadcountFile(t, path)
				MustBolt(t, path, func(tx *bbolt.Tx) error {
					return tx.Bucket(bucketMeta).Put(keySchema, encodeUint(3))
				})
				return "database has a newer schema: schema 3, this headcount reads up to 2"
			},
		},
		{
			name:   "headcount database without its days bucket",
			wantIs: ErrCorrupt,
			prepare: func(t *testing.T, path string) string {
				MustHeadcountFile(t, path)
				MustBolt(t, path, func(tx *bbolt.Tx) error { return tx.DeleteBucket(bucketDays) })
				return `database is corrupt: bucket "days" is missing`
			},
		},
	}
	for _, tc := range tests {
		for _, opts := range []Options{readWrite, readOnly} {
			t.Run(tc.name+"/"+modeName(opts), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "headcount.db")
				want := path + ": " + tc.prepare(t, path)
				before := MustSum(t, path)

				db, err := Open(path, opts)
				if err == nil {
					db.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, tc.wantIs) {
					t.Errorf("Open: %v, want errors.Is %v", err, tc.wantIs)
				}
				if err.Error() != want {
					t.Errorf("Open:\n got %q\nwant %q", err, want)
				}
				if MustSum(t, path) != before {
					t.Error("Open modified the file")
				}
			})
		}
	}
}

func TestOpen_Locked(t *testing.T) {
	tests := []struct {
		name         string
		holder, next Options
		wantLocked   bool
	}{
		{name: "writer blocks writer", holder: readWrite, next: readWrite, wantLocked: true},
		{name: "writer blocks reader", holder: readWrite, next: readOnly, wantLocked: true},
		{name: "reader blocks writer", holder: readOnly, next: readWrite, wantLocked: true},
		{name: "readers share", holder: readOnly, next: readOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "headcount.db")
			MustHeadcountFile(t, path)
			MustOpen(t, path, tc.holder)

			tc.next.Timeout = lockTimeout
			db, err := Open(path, tc.next)
			if !tc.wantLocked {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer db.Close()
				if got := MustState(t, db).counters.Started; got != sampleFlush.Started {
					t.Errorf("Started = %d, want %d", got, sampleFlush.Started)
				}
				return
			}
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrLocked) {
				t.Errorf("Open: %v, want errors.Is ErrLocked", err)
			}
			if want := path + ": database is in use by another process"; err.Error() != want {
				t.Errorf("Open: %q, want %q", err, want)
			}
		})
	}
}

func TestDB_Flush(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name    string
		flushes []Flush
		want    state
	}{
		{
			name: "days are added",
			flushes: []Flush{
				{Days: []DayCount{{Day: day(2024, 1, 1), Sessions: 2}}, Completed: map[string]uint64{"idle": 2}, Now: at(2024, 1, 1, 12, 0, 0)},
				{Days: []DayCount{{Day: day(2024, 1, 1), Sessions: 3}, {Day: day(2024, 1, 2), Sessions: 1}}, Completed: map[string]uint64{"max": 1, "logout": 3}, Now: at(2024, 1, 2, 0, 0, 5)},
			},
			want: state{
				days: []DayCount{{Day: day(2024, 1, 1), Sessions: 5}, {Day: day(2024, 1, 2), Sessions: 1}},
				counters: Counters{
					Completed:         6,
					CompletedByReason: map[string]uint64{"idle": 2, "logout": 3, "max": 1},
					LastFlush:         at(2024, 1, 2, 0, 0, 5),
					FlushCount:        2,
				},
			},
		},
		{
			name: "hours keep the highest peak and add milliseconds",
			flushes: []Flush{
				{Hours: []HourStat{{at(2024, 1, 1, 10, 0, 0), 7, 100, 5000}}, Started: 9, Now: at(2024, 1, 1, 10, 0, 5)},
				{Hours: []HourStat{{at(2024, 1, 1, 10, 0, 0), 3, 50, 5000}, {at(2024, 1, 1, 11, 0, 0), 1, 5, 10}}, Now: at(2024, 1, 1, 10, 0, 10)},
				{Hours: []HourStat{{at(2024, 1, 1, 11, 0, 0), 9, 5, 10}}, Now: at(2024, 1, 1, 11, 0, 15)},
			},
			want: state{
				hours: []HourStat{{at(2024, 1, 1, 10, 0, 0), 7, 150, 10000}, {at(2024, 1, 1, 11, 0, 0), 9, 10, 20}},
				counters: Counters{
					Started:           9,
					CompletedByReason: map[string]uint64{},
					LastFlush:         at(2024, 1, 1, 11, 0, 15),
					FlushCount:        3,
				},
			},
		},
		{
			name: "coverage with a known start is extended, never shortened; a new start is inserted",
			flushes: []Flush{
				{Coverage: []Interval{{at(2024, 1, 1, 10, 0, 0), at(2024, 1, 1, 10, 0, 5)}}, Now: at(2024, 1, 1, 10, 0, 5)},
				{Coverage: []Interval{{at(2024, 1, 1, 10, 0, 0), at(2024, 1, 1, 10, 0, 10)}}, Now: at(2024, 1, 1, 10, 0, 10)},
				{Coverage: []Interval{{at(2024, 1, 1, 10, 0, 0), at(2024, 1, 1, 10, 0, 7)}, {at(2024, 1, 1, 9, 0, 0), at(2024, 1, 1, 9, 30, 0)}}, Now: at(2024, 1, 1, 10, 0, 15)},
			},
			want: state{
				coverage: []Interval{
					{at(2024, 1, 1, 9, 0, 0), at(2024, 1, 1, 9, 30, 0)},
					{at(2024, 1, 1, 10, 0, 0), at(2024, 1, 1, 10, 0, 10)},
				},
				counters: Counters{
					CompletedByReason: map[string]uint64{},
					LastFlush:         at(2024, 1, 1, 10, 0, 15),
					FlushCount:        3,
				},
			},
		},
		{
			name: "an empty flush still updates the counters",
			flushes: []Flush{
				{Started: 4, Now: at(2024, 1, 1, 10, 0, 5)},
				{Started: 1, Now: at(2024, 1, 1, 10, 0, 10)},
			},
			want: state{
				counters: Counters{
					Started:           5,
					CompletedByReason: map[string]uint64{},
					LastFlush:         at(2024, 1, 1, 10, 0, 10),
					FlushCount:        2,
				},
			},
		},
		{
			name: "times are normalized to UTC days, hours and seconds",
			flushes: []Flush{{
				Days:      []DayCount{{Day: time.Date(2024, 1, 1, 0, 30, 0, 0, paris), Sessions: 1}}, // 2023-12-31T23:30Z
				Hours:     []HourStat{{time.Date(2024, 1, 1, 10, 59, 59, 0, paris), 2, 3, 4}},
				Coverage:  []Interval{{at(2024, 1, 1, 9, 0, 0).Add(400 * time.Millisecond), at(2024, 1, 1, 9, 0, 5).Add(900 * time.Millisecond)}},
				Completed: map[string]uint64{"idle": 1},
				Started:   2,
				Now:       time.Date(2024, 1, 1, 10, 0, 5, 500, paris),
			}},
			want: state{
				days:     []DayCount{{Day: day(2023, 12, 31), Sessions: 1}},
				hours:    []HourStat{{at(2024, 1, 1, 9, 0, 0), 2, 3, 4}},
				coverage: []Interval{{at(2024, 1, 1, 9, 0, 0), at(2024, 1, 1, 9, 0, 5)}},
				counters: Counters{
					Started:           2,
					Completed:         1,
					CompletedByReason: map[string]uint64{"idle": 1},
					LastFlush:         at(2024, 1, 1, 9, 0, 5),
					FlushCount:        1,
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := MustCreate(t)
			MustFlush(t, db, tc.flushes...)
			if got := MustState(t, db); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDB_FlushRejects(t *testing.T) {
	now := at(2024, 3, 10, 9, 0, 10)
	tests := []struct {
		name  string
		flush Flush
		want  string // after "<path>: flush rejected: "
	}{
		{
			name:  "completed by reason exceeds completed by day",
			flush: Flush{Days: []DayCount{{Day: day(2024, 3, 10), Sessions: 2}}, Completed: map[string]uint64{"idle": 2, "max": 1}, Now: now},
			want:  "3 sessions completed by reason but 2 by day",
		},
		{
			name:  "days without reasons",
			flush: Flush{Days: []DayCount{{Day: day(2024, 3, 10), Sessions: 1}}, Now: now},
			want:  "0 sessions completed by reason but 1 by day",
		},
		{
			name:  "empty reason",
			flush: Flush{Days: []DayCount{{Day: day(2024, 3, 10), Sessions: 1}}, Completed: map[string]uint64{"": 1}, Now: now},
			want:  "completed sessions with an empty reason",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := MustCreate(t)
			MustFlush(t, db, sampleFlush)
			if _, err := db.SetEnvironment("prod"); err != nil {
				t.Fatal(err)
			}
			before := MustSum(t, db.Path())

			tc.flush.Seq = MustNextSeq(t, db)
			_, err := db.Flush(tc.flush)
			if want := db.Path() + ": flush rejected: " + tc.want; err == nil || err.Error() != want {
				t.Errorf("Flush: %v, want %q", err, want)
			}
			if MustSum(t, db.Path()) != before {
				t.Error("rejected Flush modified the file")
			}
			if got := MustState(t, db); !reflect.DeepEqual(got, sampleState) {
				t.Errorf("after a rejected flush:\n got %+v\nwant %+v", got, sampleState)
			}
		})
	}
}

func TestDB_Recover(t *testing.T) {
	now := at(2024, 3, 11, 8, 0, 0)
	tests := []struct {
		name string
		// crash leaves the database as a process killed after its last flush would.
		crash        func(t *testing.T, db *DB)
		want         uint64
		wantDays     []DayCount
		wantByReason map[string]uint64
	}{
		{
			name: "live sessions complete on the last flush's day",
			crash: func(t *testing.T, db *DB) {
				MustFlush(t, db, Flush{
					Days:      []DayCount{{Day: day(2024, 3, 10), Sessions: 2}},
					Started:   5,
					Completed: map[string]uint64{"idle": 2},
					Now:       at(2024, 3, 10, 23, 59, 58),
				})
			},
			want:         3,
			wantDays:     []DayCount{{Day: day(2024, 3, 10), Sessions: 5, Unclassified: 3}},
			wantByReason: map[string]uint64{"idle": 2, "recovered": 3},
		},
		{
			name: "nothing was live",
			crash: func(t *testing.T, db *DB) {
				MustFlush(t, db, Flush{
					Days:      []DayCount{{Day: day(2024, 3, 10), Sessions: 2}},
					Started:   2,
					Completed: map[string]uint64{"logout": 2},
					Now:       at(2024, 3, 10, 12, 0, 0),
				})
			},
			want:         0,
			wantDays:     []DayCount{{Day: day(2024, 3, 10), Sessions: 2}},
			wantByReason: map[string]uint64{"logout": 2},
		},
		{
			name: "without a last flush, live sessions complete on now's day",
			crash: func(t *testing.T, db *DB) {
				err := db.bolt.Update(func(tx *bbolt.Tx) error {
					return tx.Bucket(bucketMeta).Put(keyStartedTotal, encodeUint(4))
				})
				if err != nil {
					t.Fatal(err)
				}
			},
			want:         4,
			wantDays:     []DayCount{{Day: day(2024, 3, 11), Sessions: 4, Unclassified: 4}}, // their class was in the lost memory
			wantByReason: map[string]uint64{"recovered": 4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "headcount.db")
			db := MustOpen(t, path, readWrite)
			tc.crash(t, db)
			MustClose(t, db)
			db = MustOpen(t, path, readWrite)

			for i, want := range []uint64{tc.want, 0} {
				got, err := db.Recover(now)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("Recover call %d = %d, want %d", i+1, got, want)
				}
			}
			s := MustState(t, db)
			if !reflect.DeepEqual(s.days, tc.wantDays) {
				t.Errorf("days = %+v, want %+v", s.days, tc.wantDays)
			}
			if !reflect.DeepEqual(s.counters.CompletedByReason, tc.wantByReason) {
				t.Errorf("CompletedByReason = %v, want %v", s.counters.CompletedByReason, tc.wantByReason)
			}
			if s.counters.Completed != s.counters.Started {
				t.Errorf("Completed = %d, want Started = %d", s.counters.Completed, s.counters.Started)
			}
		})
	}
}

func TestDB_SetEnvironment(t *testing.T) {
	tests := []struct {
		name   string
		sets   []string // values passed to SetEnvironment in turn
		reopen bool     // close and reopen the database between calls
		want   []string // value returned by each call, and by Environment after it
	}{
		{name: "first value wins", sets: []string{"prod-a", "prod-b"}, want: []string{"prod-a", "prod-a"}},
		{name: "first value survives a restart", sets: []string{"prod-a", "prod-b"}, reopen: true, want: []string{"prod-a", "prod-a"}},
		{name: "empty value stores nothing", sets: []string{"", "prod-b"}, want: []string{"", "prod-b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "headcount.db")
			db := MustOpen(t, path, readWrite)
			for i, env := range tc.sets {
				if tc.reopen && i > 0 {
					MustClose(t, db)
					db = MustOpen(t, path, readWrite)
				}
				got, err := db.SetEnvironment(env)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want[i] {
					t.Errorf("SetEnvironment(%q) = %q, want %q", env, got, tc.want[i])
				}
				stored, err := db.Environment()
				if err != nil {
					t.Fatal(err)
				}
				if stored != tc.want[i] {
					t.Errorf("Environment() = %q, want %q", stored, tc.want[i])
				}
			}
		})
	}
}

func TestDB_Days(t *testing.T) {
	db := MustCreate(t)
	MustFlush(t, db, Flush{
		Days:      []DayCount{{Day: day(2024, 1, 31), Sessions: 1}, {Day: day(2024, 2, 1), Sessions: 2}, {Day: day(2024, 2, 29), Sessions: 3}, {Day: day(2024, 3, 1), Sessions: 4}},
		Completed: map[string]uint64{"idle": 10},
		Now:       at(2024, 3, 1, 12, 0, 0),
	})
	tests := []struct {
		name     string
		from, to time.Time
		want     []DayCount
	}{
		{name: "a month is half-open", from: day(2024, 2, 1), to: day(2024, 3, 1),
			want: []DayCount{{Day: day(2024, 2, 1), Sessions: 2}, {Day: day(2024, 2, 29), Sessions: 3}}},
		{name: "everything", from: day(2024, 1, 1), to: day(2025, 1, 1),
			want: []DayCount{{Day: day(2024, 1, 31), Sessions: 1}, {Day: day(2024, 2, 1), Sessions: 2}, {Day: day(2024, 2, 29), Sessions: 3}, {Day: day(2024, 3, 1), Sessions: 4}}},
		{name: "one day", from: day(2024, 2, 29), to: day(2024, 3, 1), want: []DayCount{{Day: day(2024, 2, 29), Sessions: 3}}},
		{name: "from inside a day excludes it", from: at(2024, 2, 1, 0, 0, 1), to: day(2024, 3, 1),
			want: []DayCount{{Day: day(2024, 2, 29), Sessions: 3}}},
		{name: "to inside a day includes it", from: day(2024, 3, 1), to: at(2024, 3, 1, 0, 0, 1),
			want: []DayCount{{Day: day(2024, 3, 1), Sessions: 4}}},
		{name: "empty range", from: day(2024, 2, 1), to: day(2024, 2, 1)},
		{name: "days without a count are absent", from: day(2024, 2, 2), to: day(2024, 2, 29)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Days(tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Days(%s, %s) = %+v, want %+v", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

func TestDB_Hours(t *testing.T) {
	db := MustCreate(t)
	MustFlush(t, db, Flush{
		Hours: []HourStat{
			{at(2024, 1, 1, 23, 0, 0), 1, 1, 1},
			{at(2024, 1, 2, 0, 0, 0), 2, 2, 2},
			{at(2024, 1, 2, 1, 0, 0), 3, 3, 3},
		},
		Started: 3,
		Now:     at(2024, 1, 2, 1, 0, 5),
	})
	tests := []struct {
		name     string
		from, to time.Time
		want     []HourStat
	}{
		{name: "a day is half-open", from: day(2024, 1, 2), to: day(2024, 1, 3),
			want: []HourStat{{at(2024, 1, 2, 0, 0, 0), 2, 2, 2}, {at(2024, 1, 2, 1, 0, 0), 3, 3, 3}}},
		{name: "an hour is half-open", from: at(2024, 1, 1, 23, 0, 0), to: day(2024, 1, 2),
			want: []HourStat{{at(2024, 1, 1, 23, 0, 0), 1, 1, 1}}},
		{name: "from inside an hour excludes it", from: at(2024, 1, 1, 23, 30, 0), to: day(2024, 1, 3),
			want: []HourStat{{at(2024, 1, 2, 0, 0, 0), 2, 2, 2}, {at(2024, 1, 2, 1, 0, 0), 3, 3, 3}}},
		{name: "empty range", from: day(2024, 1, 2), to: day(2024, 1, 2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Hours(tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Hours(%s, %s) = %+v, want %+v", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

func TestDB_ReadOnlyRefusesWrites(t *testing.T) {
	tests := []struct {
		name  string
		write func(db *DB) error
	}{
		{name: "Flush", write: func(db *DB) error { _, err := db.Flush(sampleFlush); return err }},
		{name: "Recover", write: func(db *DB) error { _, err := db.Recover(at(2024, 3, 11, 0, 0, 0)); return err }},
		{name: "SetEnvironment", write: func(db *DB) error { _, err := db.SetEnvironment("prod"); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "headcount.db")
			MustHeadcountFile(t, path)
			before := MustSum(t, path)
			db := MustOpen(t, path, readOnly)

			err := tc.write(db)
			if want := path + ": database is in read-only mode"; err == nil || err.Error() != want {
				t.Errorf("%s: %v, want %q", tc.name, err, want)
			}
			if MustSum(t, path) != before {
				t.Errorf("%s on a read-only DB modified the file", tc.name)
			}
		})
	}
}

func TestDB_Import(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := func(s string) time.Time { v, _ := time.Parse("2006-01-02", s); return v }
	if err := db.Import([]DayCount{{Day: day("2023-01-01"), Sessions: 10}, {Day: day("2023-01-02"), Sessions: 0}, {Day: day("2023-01-04"), Sessions: 7}}); err != nil {
		t.Fatal(err)
	}
	s, err := db.Snapshot(day("2023-01-01"), day("2023-01-05"), Parts{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Days) != 3 || s.Days[0].Sessions != 10 || s.Days[1].Sessions != 0 || s.Days[2].Sessions != 7 {
		t.Errorf("days = %+v", s.Days)
	}
	wantCov := []Interval{{day("2023-01-01"), day("2023-01-02")}, {day("2023-01-02"), day("2023-01-03")}, {day("2023-01-04"), day("2023-01-05")}}
	if len(s.Coverage) != len(wantCov) {
		t.Fatalf("coverage = %+v, want %+v", s.Coverage, wantCov)
	}
	for i := range wantCov {
		if !s.Coverage[i].Start.Equal(wantCov[i].Start) || !s.Coverage[i].End.Equal(wantCov[i].End) {
			t.Errorf("coverage[%d] = %+v, want %+v", i, s.Coverage[i], wantCov[i])
		}
	}

	for _, tc := range []struct {
		rows []DayCount
		want string
	}{
		{[]DayCount{{Day: day("2023-01-03"), Sessions: 1}, {Day: day("2023-01-02"), Sessions: 5}}, path + ": day already in the database: 2023-01-02 was imported before"},
		{[]DayCount{{Day: day("2023-01-04"), Sessions: 5}}, path + ": day already in the database: 2023-01-04 was imported before"},
	} {
		err := db.Import(tc.rows)
		if !errors.Is(err, ErrOverlap) || err.Error() != tc.want {
			t.Errorf("Import(%v) error = %v, want %q", tc.rows, err, tc.want)
		}
	}
	// A day the agent metered is refused too.
	if _, err := db.Flush(Flush{Days: []DayCount{{Day: day("2023-02-01"), Sessions: 3}}, Completed: map[string]uint64{"idle": 3}, Started: 3, Now: day("2023-02-01"), Seq: MustNextSeq(t, db)}); err != nil {
		t.Fatal(err)
	}
	before := MustSum(t, path)
	err = db.Import([]DayCount{{Day: day("2023-02-02"), Sessions: 1}, {Day: day("2023-02-01"), Sessions: 1}})
	if want := path + ": day already in the database: 2023-02-01 already has 3 sessions"; err == nil || err.Error() != want {
		t.Errorf("import over a metered day: %v, want %q", err, want)
	}
	if after := MustSum(t, path); after != before {
		t.Errorf("a refused import changed the file")
	}
	// One session is "1 session".
	if _, err := db.Flush(Flush{Days: []DayCount{{Day: day("2023-02-03"), Sessions: 1}}, Completed: map[string]uint64{"idle": 1}, Started: 1, Now: day("2023-02-03"), Seq: MustNextSeq(t, db)}); err != nil {
		t.Fatal(err)
	}
	err = db.Import([]DayCount{{Day: day("2023-02-03"), Sessions: 1}})
	if want := path + ": day already in the database: 2023-02-03 already has 1 session"; err == nil || err.Error() != want {
		t.Errorf("import over a day of one session: %v, want %q", err, want)
	}
	s, _ = db.Snapshot(day("2023-02-02"), day("2023-02-03"), Parts{})
	if len(s.Days) != 0 {
		t.Errorf("a refused import left days behind: %+v", s.Days)
	}
}

func TestDB_Check(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	db, err := Open(path, readWrite)
	if err != nil {
		t.Fatal(err)
	}
	// The last storable day counts like any other.
	MustFlush(t, db, sampleFlush, Flush{
		Days:      []DayCount{{Day: day(9999, 12, 31), Sessions: 3}},
		Hours:     []HourStat{{Hour: at(9999, 12, 31, 23, 0, 0), Peak: 1, LiveMillis: 10, SampledMillis: 10}},
		Started:   3,
		Completed: map[string]uint64{"idle": 3},
		Now:       at(9999, 12, 31, 23, 59, 59),
	})
	last := at(9999, 12, 31, 23, 59, 59)
	r, err := db.Check(last)
	want := CheckResult{Days: 2, Hours: 2, Intervals: 1, Sessions: 5, FlushSeq: 2}
	if err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("Check = %+v, %v; want %+v", r, err, want)
	}
	MustClose(t, db)

	MustBolt(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyStartedTotal, encodeUint(4))
	})
	db = MustOpen(t, path, readOnly)
	r, err = db.Check(last)
	want.Problems = []string{"completed_total 5 exceeds started_total 4"}
	if err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("Check = %+v, %v; want %+v", r, err, want)
	}
}

func TestDB_SnapshotWindows(t *testing.T) {
	db := MustCreate(t)
	f := sampleFlush
	f.Windows = []WindowCount{{Start: at(2024, 3, 10, 9, 0, 0), Sessions: 1}, {Start: at(2024, 3, 10, 9, 14, 0), Sessions: 1}}
	MustFlush(t, db, f)
	want := []WindowCount{{Start: at(2024, 3, 10, 9, 0, 0), Sessions: 1}, {Start: at(2024, 3, 10, 9, 10, 0), Sessions: 1}}
	for _, tc := range []struct {
		from, to time.Time
		want     []WindowCount
	}{
		{day(2024, 3, 10), day(2024, 3, 11), want},
		{day(1900, 1, 1), day(9999, 1, 1), want}, // a range reaching before 1970
		{at(2024, 3, 10, 9, 5, 0), at(2024, 3, 10, 9, 10, 0), nil},
		{at(2024, 3, 10, 9, 10, 0), at(2024, 3, 10, 9, 20, 0), want[1:]},
	} {
		s, err := db.Snapshot(tc.from, tc.to, Parts{Windows: true})
		if err != nil || !reflect.DeepEqual(s.Windows, tc.want) {
			t.Errorf("Snapshot(%v, %v).Windows = %+v, %v; want %+v", tc.from, tc.to, s.Windows, err, tc.want)
		}
	}
}

// TestHeld: Held sees a writer's and a reader's lock, sees none on a file
// nothing holds (and leaves none behind), and reports a missing file.
func TestHeld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "headcount.db")
	MustHeadcountFile(t, path)
	for i := 0; i < 2; i++ { // twice: the first call releases its own lock
		if held, err := Held(path); err != nil || held {
			t.Fatalf("a file nothing holds: held %v, %v", held, err)
		}
	}
	for _, opts := range []Options{readWrite, readOnly} {
		db := MustOpen(t, path, opts)
		if held, err := Held(path); err != nil || !held {
			t.Errorf("held by a read-only %v opener: Held %v, %v", opts.ReadOnly, held, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Held(filepath.Join(dir, "none.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}
