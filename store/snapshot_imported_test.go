package store

import (
	"reflect"
	"testing"
	"time"
)

// TestDB_SnapshotImported: a snapshot with windows or hours names the
// imported days of its range (their windows and hours are unknown), and one
// with neither names none.
func TestDB_SnapshotImported(t *testing.T) {
	db := MustCreate(t)
	if err := db.Import([]DayCount{{Day: day(2024, 3, 1), Sessions: 5}, {Day: day(2024, 3, 3), Sessions: 0}, {Day: day(2024, 3, 9), Sessions: 2}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to time.Time
		parts    Parts
		want     []time.Time
	}{
		{day(2024, 3, 1), day(2024, 3, 9), Parts{Windows: true}, []time.Time{day(2024, 3, 1), day(2024, 3, 3)}},
		{day(2024, 3, 2), day(2024, 3, 10), Parts{Windows: true}, []time.Time{day(2024, 3, 3), day(2024, 3, 9)}},
		{day(2024, 3, 4), day(2024, 3, 9), Parts{Windows: true}, nil},
		{day(2024, 3, 1), day(2024, 3, 10), Parts{Hours: true}, []time.Time{day(2024, 3, 1), day(2024, 3, 3), day(2024, 3, 9)}},
		{day(2024, 3, 1), day(2024, 3, 10), Parts{}, nil},
	} {
		s, err := db.Snapshot(tc.from, tc.to, tc.parts)
		if err != nil || !reflect.DeepEqual(s.Imported, tc.want) {
			t.Errorf("Snapshot(%v, %v, %+v).Imported = %v, %v; want %v", tc.from, tc.to, tc.parts, s.Imported, err, tc.want)
		}
	}
	if s, err := MustCreate(t).Snapshot(day(2024, 3, 1), day(2024, 3, 10), Parts{Windows: true}); err != nil || s.Imported != nil {
		t.Errorf("a database that never imported: %v, %v", s.Imported, err)
	}
}
