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

var update = flag.Bool("update", false, "rewrite testdata/schema1.golden and testdata/schema1.bbolt")

const (
	goldenDump = "testdata/schema1.golden"
	goldenDB   = "testdata/schema1.bbolt"
)

// MustWriteEveryRecord drives every writer of the package — SetEnvironment, Flush (with windows, merged
// hours and an extended coverage interval), Import, SetEntitlementState, SetUsageState and Recover — so
// that db holds every bucket and every kind of key the package writes. The values are fixed, so the
// resulting keys and values are too.
func MustWriteEveryRecord(t *testing.T, db *DB) {
	t.Helper()
	if _, err := db.SetEnvironment("prod"); err != nil {
		t.Fatal(err)
	}
	MustFlush(t, db,
		Flush{
			Days:      []DayCount{{Day: day(2024, 3, 10), Sessions: 4}},
			Hours:     []HourStat{{Hour: at(2024, 3, 10, 9, 0, 0), Peak: 4, LiveMillis: 1000, SampledMillis: 5000}},
			Coverage:  []Interval{{Start: at(2024, 3, 10, 9, 0, 0), End: at(2024, 3, 10, 9, 0, 5)}},
			Windows:   []WindowCount{{Start: at(2024, 3, 10, 9, 0, 0), Sessions: 4}},
			Started:   6,
			Completed: map[string]uint64{"idle": 1, "max": 1, "logout": 1, "shutdown": 1},
			Now:       at(2024, 3, 10, 9, 0, 5),
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
// buckets, keys and values of testdata/schema1.golden, and testdata/schema1.bbolt — written by an earlier
// build through the same calls — still opens, passes Check and holds the same records.
func TestSchema_Golden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	db, err := Open(path, readWrite)
	if err != nil {
		t.Fatal(err)
	}
	MustWriteEveryRecord(t, db)
	MustClose(t, db)
	got := MustDump(t, path)

	var want []byte
	if *update {
		if err := os.WriteFile(goldenDump, got, 0o644); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenDB, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err = os.ReadFile(goldenDump)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("a fresh database holds\n%s\nwant (%s)\n%s", got, goldenDump, want)
	}

	// The stored file from an earlier build: copy it, since a read-write Open may write to it.
	data, err := os.ReadFile(goldenDB)
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "old.db")
	MustWriteFile(t, old, data)
	if got := MustDump(t, old); !bytes.Equal(got, want) {
		t.Errorf("%s holds\n%s\nwant (%s)\n%s", goldenDB, got, goldenDump, want)
	}
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
		MustClose(t, db)
	}
}
