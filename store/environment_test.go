package store

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"go.etcd.io/bbolt"
)

// TestDB_RenameEnvironment: a rename stores the new id and records the change (time, old, new), in
// order; a rename to the stored id records nothing; the record survives a reopen.
func TestDB_RenameEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	db := MustOpen(t, path, readWrite)
	steps := []struct {
		to, wantFrom string
	}{
		{"prod", ""}, // a database without an id (made by import) gets one
		{"prod-eu", "prod"},
		{"prod-eu", "prod-eu"}, // already so: nothing recorded
		{"prod-eu-1", "prod-eu"},
	}
	for i, s := range steps {
		from, err := db.RenameEnvironment(s.to, at(2026, 11, 30, 3, 0, i))
		if err != nil || from != s.wantFrom {
			t.Fatalf("RenameEnvironment(%q) = %q, %v; want %q", s.to, from, err, s.wantFrom)
		}
		if env, err := db.Environment(); err != nil || env != s.to {
			t.Errorf("Environment() after renaming to %q = %q, %v", s.to, env, err)
		}
	}
	want := []EnvironmentChange{
		{Time: at(2026, 11, 30, 3, 0, 0), From: "", To: "prod"},
		{Time: at(2026, 11, 30, 3, 0, 1), From: "prod", To: "prod-eu"},
		{Time: at(2026, 11, 30, 3, 0, 3), From: "prod-eu", To: "prod-eu-1"},
	}
	MustClose(t, db)
	db = MustOpen(t, path, readOnly)
	got, err := db.EnvironmentHistory()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("EnvironmentHistory() = %+v, %v; want %+v", got, err, want)
	}
	if got, err := db.Snapshot(day(2026, 11, 1), day(2026, 12, 1), Parts{}); err != nil || got.Environment != "prod-eu-1" {
		t.Errorf("Snapshot names the environment %q (%v), want the new id", got.Environment, err)
	}
}

// TestDB_RenameEnvironment_Refused: an empty id and a read-only database are refused, and the file
// is left as it was; SetEnvironment does not overwrite a renamed id.
func TestDB_RenameEnvironment_Refused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	db := MustOpen(t, path, readWrite)
	if _, err := db.SetEnvironment("prod"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RenameEnvironment("", at(2026, 11, 30, 0, 0, 0)); err == nil || err.Error() != path+": the new environment id is empty" {
		t.Errorf("empty id: %v", err)
	}
	if _, err := db.RenameEnvironment("prod-eu", at(2026, 11, 30, 0, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if got, err := db.SetEnvironment("prod"); err != nil || got != "prod-eu" {
		t.Errorf("SetEnvironment after a rename = %q, %v; want the renamed id kept", got, err)
	}
	MustClose(t, db)

	before := MustSum(t, path)
	ro := MustOpen(t, path, readOnly)
	if _, err := ro.RenameEnvironment("prod-us", at(2026, 11, 30, 0, 0, 0)); err == nil || err.Error() != path+": database is in read-only mode" {
		t.Errorf("read-only: %v", err)
	}
	if MustSum(t, path) != before {
		t.Errorf("a refused rename modified the file")
	}
}

// TestDB_EnvironmentHistory_Corrupt: a history record that does not decode is ErrCorrupt, named.
func TestDB_EnvironmentHistory_Corrupt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value []byte
		want  string
	}{
		{"too short", []byte{1, 2, 3}, ": database is corrupt: environment_history 0000000000000001 holds 3 bytes, want at least 16"},
		{"old id runs past the end", append(encodeUint(1), append(encodeUint(5), "prod"...)...),
			": database is corrupt: environment_history 0000000000000001: the old id's length 5 leaves no new id"},
		{"no new id", append(encodeUint(1), append(encodeUint(4), "prod"...)...),
			": database is corrupt: environment_history 0000000000000001: the old id's length 4 leaves no new id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "headcount.db")
			MustHeadcountFile(t, path)
			MustBolt(t, path, func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket(bucketEnvironmentHistory)
				if err != nil {
					return err
				}
				return b.Put(encodeUint(1), tc.value)
			})
			db := MustOpen(t, path, readOnly)
			_, err := db.EnvironmentHistory()
			if !errors.Is(err, ErrCorrupt) || err.Error() != path+tc.want {
				t.Errorf("EnvironmentHistory() error %v, want %q", err, path+tc.want)
			}
		})
	}
}

// TestDB_Discard: Discard removes a file its Open created, and only closes one that existed.
func TestDB_Discard(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	db, err := Open(fresh, readWrite)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Discard left the file it created: %v", err)
	}
	if _, err := db.Environment(); err == nil {
		t.Errorf("a discarded DB still reads")
	}

	existing := filepath.Join(dir, "existing.db")
	MustHeadcountFile(t, existing)
	before := MustSum(t, existing)
	for _, opts := range []Options{readWrite, readOnly, {MustExist: true}} {
		db, err := Open(existing, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Discard(); err != nil {
			t.Fatal(err)
		}
		if MustSum(t, existing) != before {
			t.Fatalf("%+v: Discard changed or removed a file that existed", opts)
		}
	}
	if held, err := Held(existing); err != nil || held {
		t.Errorf("Discard left the lock held: %v, %v", held, err)
	}

	// A new file that received a pending file's flushes holds counts found nowhere else: kept.
	withPending := filepath.Join(dir, "pending.db")
	if err := WritePending(withPending, []Flush{{Days: []DayCount{{Day: day(2024, 3, 10), Sessions: 3}},
		Completed: map[string]uint64{"idle": 3}, Started: 3, Now: at(2024, 3, 10, 9, 0, 0), Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	db, err = Open(withPending, readWrite)
	if err != nil {
		t.Fatal(err)
	}
	if applied, _, err := db.ApplyPending(); err != nil || len(applied) != 1 {
		t.Fatalf("ApplyPending = %v, %v", applied, err)
	}
	if err := db.Discard(); err != nil {
		t.Fatal(err)
	}
	db = MustOpen(t, withPending, readOnly)
	if days, err := db.Days(day(2024, 3, 10), day(2024, 3, 11)); err != nil || len(days) != 1 || days[0].Sessions != 3 {
		t.Errorf("the pending file's counts: %v, %v; want 3 sessions kept", days, err)
	}
}
