package store

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"
)

var update = flag.Bool("update", false, "rewrite testdata/schema2.golden and testdata/schema1-migrated.golden")

const (
	// goldenDump is the dump of a fresh database given MustWriteEveryRecord.
	goldenDump = "testdata/schema2.golden"
	// goldenDB is a schema-1 file written by an earlier build through MustWriteEveryRecord's calls but
	// those of MustWriteAdditions; goldenMigrated is its dump once migrated to schema 2.
	goldenDB       = "testdata/schema1.bbolt"
	goldenMigrated = "testdata/schema1-migrated.golden"
)

// MustWriteEveryRecord drives every writer of the package — SetEnvironment, Flush (with windows, merged
// hours and an extended coverage interval), Import, SetEntitlementState, SetUsageState, Recover and
// those of MustWriteAdditions — so
// that db holds every bucket and every kind of key the package writes. The values are fixed, so the
// resulting keys and values are too.
func MustWriteEveryRecord(t *testing.T, db *DB) {
	t.Helper()
	if _, err := db.SetEnvironment("prod"); err != nil {
		t.Fatal(err)
	}
	MustFlush(t, db,
		Flush{
			Days:         []DayCount{{Day: day(2024, 3, 10), Sessions: 4, Bots: 1}},
			Hours:        []HourStat{{Hour: at(2024, 3, 10, 9, 0, 0), Peak: 4, LiveMillis: 1000, SampledMillis: 5000}},
			HourSessions: []HourCount{{Hour: at(2024, 3, 10, 9, 0, 0), Sessions: 4, Bots: 1}},
			Coverage:     []Interval{{Start: at(2024, 3, 10, 9, 0, 0), End: at(2024, 3, 10, 9, 0, 5)}},
			Windows:      []WindowCount{{Start: at(2024, 3, 10, 9, 0, 0), Sessions: 4, Bots: 1}},
			Started:      6,
			Completed:    map[string]uint64{"idle": 1, "max": 1, "logout": 1, "shutdown": 1},
			Now:          at(2024, 3, 10, 9, 0, 5),
		},
		Flush{
			Days:      []DayCount{{Day: day(2024, 3, 10), Sessions: 1}},
			Hours:     []HourStat{{Hour: at(2024, 3, 10, 9, 0, 0), Peak: 2, LiveMillis: 500, SampledMillis: 5000}},
			Coverage:  []Interval{{Start: at(2024, 3, 10, 9, 0, 0), End: at(2024, 3, 10, 9, 0, 10)}},
			Windows:   []WindowCount{{Start: at(2024, 3, 10, 9, 12, 0), Sessions: 1}},
			Started:   1,
			Completed: map[string]uint64{"idle": 1},
			Now:       at(2024, 3, 10, 9, 12, 0),
		},
	)
	if err := db.Import([]DayCount{{Day: day(2023, 1, 1), Sessions: 10}, {Day: day(2023, 1, 2), Sessions: 0}}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetEntitlementState([]byte(`{"entitled":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.SetUsageState([]byte(`{"sent":1}`)); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Recover(at(2024, 3, 11, 0, 0, 0)); err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v; want 2 sessions", n, err)
	}
	MustWriteAdditions(t, db)
}

// MustWriteAdditions drives the writers added to schema 1 after testdata/schema1.bbolt was written —
// RenameEnvironment — so that that file, given them, holds every record a fresh database does.
func MustWriteAdditions(t *testing.T, db *DB) {
	t.Helper()
	if from, err := db.RenameEnvironment("prod-eu", at(2024, 3, 11, 0, 0, 0)); err != nil || from != "prod" {
		t.Fatalf("RenameEnvironment = %q, %v; want the old id prod", from, err)
	}
	// Replay counts a day, then counts it again replacing it, and records its state.
	for i := 0; i < 2; i++ {
		var replace []time.Time
		if i == 1 {
			replace = []time.Time{day(2024, 3, 12)}
		}
		seq, err := db.FlushSeq()
		if err != nil {
			t.Fatal(err)
		}
		if aside, err := db.ReplayFlush(Flush{Days: []DayCount{{Day: day(2024, 3, 12), Sessions: 2, Bots: 1}}, Started: 2,
			Completed: map[string]uint64{"idle": 2}, Coverage: []Interval{{Start: at(2024, 3, 12, 8, 0, 0), End: at(2024, 3, 12, 9, 30, 0)}},
			Seq: seq + 1, Now: at(2024, 3, 13, 0, 0, 0)},
			ReplayState{Settled: at(2024, 3, 12, 9, 30, 0), Open: at(2024, 3, 12, 8, 0, 0),
				Files: []ReplayFile{{Name: "access.log", Device: 2049, Inode: 131, Size: 4096, Offset: 1024, Line: 12}}},
			replace); err != nil || len(aside) > 0 {
			t.Fatalf("ReplayFlush: %v, set aside %v", err, aside)
		}
	}
}

// MustDump returns every bucket, key and value of the bbolt file at path, one per line in key order:
// buckets by name, keys quoted when they are text and in hex otherwise, values in hex.
func MustDump(t *testing.T, path string) []byte {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out bytes.Buffer
	var dump func(indent string, bk *bbolt.Bucket) error
	dump = func(indent string, bk *bbolt.Bucket) error {
		return bk.ForEach(func(k, v []byte) error {
			if v == nil {
				fmt.Fprintf(&out, "%sbucket %s\n", indent, keyText(k))
				return dump(indent+"  ", bk.Bucket(k))
			}
			fmt.Fprintf(&out, "%s%s = %x\n", indent, keyText(k), v)
			return nil
		})
	}
	err = b.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
			fmt.Fprintf(&out, "bucket %s\n", keyText(name))
			return dump("  ", bk)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// keyText quotes k when it is printable text and writes it in hex otherwise.
func keyText(k []byte) string {
	if len(k) > 0 && utf8.Valid(k) && bytes.IndexFunc(k, func(r rune) bool { return !strconv.IsPrint(r) }) < 0 {
		return strconv.Quote(string(k))
	}
	return fmt.Sprintf("0x%x", k)
}

// TestSchema_Golden pins the on-disk format: a fresh database fed MustWriteEveryRecord holds exactly the
// buckets, keys and values of testdata/schema2.golden. testdata/schema1.bbolt, a schema-1 file written by
// an earlier build, opens read-only as it is and passes Check; opened for writing it is migrated, after a
// copy, to exactly testdata/schema1-migrated.golden, and given MustWriteAdditions it holds every kind of
// record a fresh database does.
func TestSchema_Golden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	db, err := Open(path, readWrite)
	if err != nil {
		t.Fatal(err)
	}
	MustWriteEveryRecord(t, db)
	MustClose(t, db)
	mustMatchGolden(t, MustDump(t, path), goldenDump)

	// The stored file from an earlier build: copy it, since a read-write Open writes to it.
	data, err := os.ReadFile(goldenDB)
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "old.db")
	MustWriteFile(t, old, data)
	before := MustDump(t, old)
	for _, opts := range []Options{readOnly, readWrite} {
		db, err := Open(old, opts)
		if err != nil {
			t.Fatalf("%s: %v", modeName(opts), err)
		}
		r, err := db.Check(time.Now())
		if err != nil || len(r.Problems) > 0 {
			t.Errorf("%s: Check of %s = %+v, %v", modeName(opts), goldenDB, r, err)
		}
		if r.Days != 3 || r.Sessions != 17 || r.Hours != 1 || r.Intervals != 3 {
			t.Errorf("%s: Check of %s = %+v, want 3 days, 17 sessions, 1 hour, 3 intervals", modeName(opts), goldenDB, r)
		}
		days, err := db.Days(day(2023, 1, 1), day(2025, 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range days {
			if d.Unclassified != d.Sessions || d.Bots != 0 {
				t.Errorf("%s: schema-1 day %+v, want every session unclassified", modeName(opts), d)
			}
		}
		m, migrated := db.Migrated()
		switch want := (Migration{From: 1, To: 2, Backup: old + ".schema-1.backup", Days: 3, Windows: 2}); {
		case opts.ReadOnly && (migrated || !bytes.Equal(MustDump(t, old), before)):
			t.Errorf("a read-only Open migrated (%+v) or changed the file", m)
		case !opts.ReadOnly && m != want:
			t.Errorf("Migrated() = %+v, %v; want %+v", m, migrated, want)
		}
		MustClose(t, db)
	}
	mustMatchGolden(t, MustDump(t, old), goldenMigrated)
	if got := MustDump(t, old+".schema-1.backup"); !bytes.Equal(got, before) {
		t.Errorf("the copy written before the migration holds\n%s\nwant\n%s", got, before)
	}
	db, err = Open(old, readWrite)
	if err != nil {
		t.Fatal(err)
	}
	if m, migrated := db.Migrated(); migrated {
		t.Errorf("a second Open migrated again: %+v", m)
	}
	MustWriteAdditions(t, db)
	MustClose(t, db)
}

// mustMatchGolden compares got with the file golden, rewriting it first under -update.
func mustMatchGolden(t *testing.T, got []byte, golden string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the database holds\n%s\nwant (%s)\n%s", got, golden, want)
	}
}
