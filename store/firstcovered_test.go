package store

import (
	"path/filepath"
	"testing"
	"time"
)

// TestDB_FirstCovered: none in a new database; then the start of the
// earliest coverage interval, however the intervals were added.
func TestDB_FirstCovered(t *testing.T) {
	db := MustOpen(t, filepath.Join(t.TempDir(), "headcount.db"), Options{})
	if first, ok, err := db.FirstCovered(); err != nil || ok || !first.IsZero() {
		t.Errorf("a new database: %s, %v, %v; want none", first, ok, err)
	}
	later := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	earlier := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, step := range []struct{ imported, want time.Time }{{later, later}, {earlier, earlier}} {
		if err := db.Import([]DayCount{{Day: step.imported, Sessions: 1}}); err != nil {
			t.Fatal(err)
		}
		if first, ok, err := db.FirstCovered(); err != nil || !ok || !first.Equal(step.want) {
			t.Errorf("after importing %s: %s, %v, %v; want %s", step.imported.Format("2006-01-02"), first, ok, err, step.want)
		}
	}
}
