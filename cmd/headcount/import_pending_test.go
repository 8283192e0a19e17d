package main

import (
	"path/filepath"
	"testing"
	"time"

	"headcount/store"
)

// A pending file holds a flush the database does not hold yet: sessions and
// coverage of a day the agent metered while its flushes failed. An import
// of that day would see neither in the database and add it, and the next
// start would apply the pending flush to the same day: import refuses while
// a pending file holds flushes the database lacks.
func TestImport_RefusedWhilePendingFlushes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "h.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d1 := time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)
	d2 := d1.Add(24 * time.Hour)
	if _, err := db.Flush(store.Flush{Days: []store.DayCount{{Day: d1, Sessions: 2}}, Started: 2, Completed: map[string]uint64{"idle": 2},
		Coverage: []store.Interval{{Start: d1.Add(time.Hour), End: d1.Add(2 * time.Hour)}}, Now: d1.Add(2 * time.Hour), Seq: 1}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// What the agent wrote while the database could not be written: day 2 metered.
	if err := store.WritePending(path, []store.Flush{{Days: []store.DayCount{{Day: d2, Sessions: 4}}, Started: 4, Completed: map[string]uint64{"idle": 4},
		Coverage: []store.Interval{{Start: d1.Add(2 * time.Hour), End: d2.Add(12 * time.Hour)}}, Now: d2.Add(12 * time.Hour), Seq: 2}}); err != nil {
		t.Fatal(err)
	}
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, "date,sessions\n2024-03-11,9\n")
	code, out, errOut := runCLI(t, "import", "--db", path, hist)
	wantErr := "headcount: " + path + ": flushes not yet applied: " + path + ".pending holds a flush the database does not hold yet, which may meter the days imported; start the agent once to apply it, then import again\n"

	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.ApplyPending(); err != nil { // the next start
		t.Fatal(err)
	}
	days, err := db.Days(d2, d2.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if code != 1 || errOut != wantErr || len(days) != 1 || days[0].Sessions != 4 {
		t.Errorf("import of a day the pending file meters: status %d, stdout %q, stderr %q; then the start made day %v; want the import refused and the day holding the 4 metered sessions",
			code, out, errOut, days)
	}
}
