package store

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"

	"go.etcd.io/bbolt"
)

// TestSchema_Declared fails when the package writes a bucket or a key that schema.go does not declare,
// or when schema.go declares one that nothing writes: after every writer of the package has run, the
// file holds exactly the declared buckets, no nested bucket, only declared meta keys, and keys of the
// declared formats in the other buckets.
func TestSchema_Declared(t *testing.T) {
	for _, b := range requiredBuckets {
		if !slices.ContainsFunc(schemaBuckets, func(s []byte) bool { return bytes.Equal(s, b) }) {
			t.Errorf("required bucket %q is not in schemaBuckets", b)
		}
	}

	path := filepath.Join(t.TempDir(), "headcount.db")
	db, err := Open(path, readWrite)
	if err != nil {
		t.Fatal(err)
	}
	MustWriteEveryRecord(t, db)
	// A flush entry set aside: the records only a wall clock far off writes (not in the golden file,
	// which an earlier build wrote).
	MustFlush(t, db, Flush{Days: []DayCount{{Day: at(1969, 12, 31, 23, 0, 0), Sessions: 1}}, Started: 1,
		Completed: map[string]uint64{"idle": 1}, Now: at(2024, 3, 11, 0, 0, 0)})
	MustClose(t, db)

	b, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// keyOK reports whether k is a well-formed key of the bucket named name.
	keyOK := map[string]func(k []byte) bool{
		string(bucketMeta): func(k []byte) bool {
			return slices.ContainsFunc(metaKeys, func(m []byte) bool { return bytes.Equal(m, k) }) ||
				bytes.HasPrefix(k, []byte(keyCompletedReasonPrefix)) && len(k) > len(keyCompletedReasonPrefix)
		},
		string(bucketDays):               func(k []byte) bool { _, ok := parseKeyTime(k, false); return ok },
		string(bucketImported):           func(k []byte) bool { _, ok := parseKeyTime(k, false); return ok },
		string(bucketHours):              func(k []byte) bool { _, ok := parseKeyTime(k, true); return ok },
		string(bucketCoverage):           func(k []byte) bool { return len(k) == uintValueSize },
		string(bucketWindows):            func(k []byte) bool { return len(k) == uintValueSize },
		string(bucketSetAside):           func(k []byte) bool { return len(k) == uintValueSize+4 },
		string(bucketEnvironmentHistory): func(k []byte) bool { return len(k) == uintValueSize },
		string(bucketHourSessions):       func(k []byte) bool { _, ok := parseKeyTime(k, true); return ok },
		string(bucketReplay):             func(k []byte) bool { return bytes.Equal(k, keyReplayState) },
	}
	if len(keyOK) != len(schemaBuckets) {
		t.Fatalf("the test knows the keys of %d buckets, schemaBuckets declares %d", len(keyOK), len(schemaBuckets))
	}

	var found [][]byte
	metaFound := map[string]bool{}
	err = b.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
			found = append(found, slices.Clone(name))
			ok, declared := keyOK[string(name)]
			if !declared {
				t.Errorf("the file holds bucket %q, which schema.go does not declare", name)
				return nil
			}
			return bk.ForEach(func(k, v []byte) error {
				switch {
				case v == nil:
					t.Errorf("bucket %q holds the nested bucket %q, which schema.go does not declare", name, k)
				case !ok(k):
					t.Errorf("bucket %q holds the key %q, which schema.go does not declare", name, k)
				case bytes.Equal(name, bucketMeta):
					metaFound[string(k)] = true
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, name := range schemaBuckets {
		if !slices.ContainsFunc(found, func(f []byte) bool { return bytes.Equal(f, name) }) {
			t.Errorf("schema.go declares bucket %q, but no writer created it", name)
		}
	}
	for _, k := range metaKeys {
		if !metaFound[string(k)] {
			t.Errorf("schema.go declares meta key %q, but no writer stored it", k)
		}
	}
	if !metaFound[keyCompletedReasonPrefix+reasonRecovered] {
		t.Errorf("Recover stored no %q key", keyCompletedReasonPrefix+reasonRecovered)
	}
}
