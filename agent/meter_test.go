package agent

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/session"
	"headcount/store"
)

func mustOpen(t *testing.T, path string, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestMeter_FlushKeepsCountsUntilWritten makes a flush fail (a read-only
// database) and checks that nothing is lost and nothing is written twice
// once flushing works again.
func TestMeter_FlushKeepsCountsUntilWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	mustOpen(t, path, store.Options{}).Close()
	readOnly := mustOpen(t, path, store.Options{ReadOnly: true})

	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	table, err := session.New(session.Config{IdleTimeout: time.Minute}, now)
	if err != nil {
		t.Fatal(err)
	}
	cov := &Coverage{}
	m := NewMeter(MeterOptions{Table: table, Coverage: cov, DB: readOnly, FlushEvery: time.Second, Clock: SystemClock(), Log: zerolog.Nop()})
	for k := uint64(10); k < 15; k++ {
		table.Observe(k, now)
	}
	cov.Contact(now)
	table.Sweep(now.Add(2 * time.Minute)) // 5 sessions completed on 2026-05-01
	if err := m.Flush(now.Add(2*time.Minute), now.Add(2*time.Minute)); err == nil {
		t.Fatal("a flush to a read-only database succeeded")
	}
	table.Observe(99, now.Add(3*time.Minute))
	table.Sweep(now.Add(5 * time.Minute)) // one more
	if err := m.Flush(now.Add(5*time.Minute), now.Add(5*time.Minute)); err == nil {
		t.Fatal("a flush to a read-only database succeeded")
	}
	if m.FlushErrors() != 2 {
		t.Errorf("flush errors = %d, want 2", m.FlushErrors())
	}
	readOnly.Close()

	m.db = mustOpen(t, path, store.Options{})
	if err := m.Flush(now.Add(6*time.Minute), now.Add(6*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(now.Add(7*time.Minute), now.Add(7*time.Minute)); err != nil {
		t.Fatal(err)
	}
	days, err := m.db.Days(now.AddDate(0, 0, -1), now.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 1 || days[0].Sessions != 6 {
		t.Errorf("days = %+v, want 6 sessions on 2026-05-01", days)
	}
	c, err := m.db.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Started != 6 || c.Completed != 6 || c.CompletedByReason["idle"] != 6 {
		t.Errorf("counters = %+v, want 6 started, 6 completed idle", c)
	}
	cov2, err := m.db.Coverage()
	if err != nil || len(cov2) != 1 || !cov2[0].Start.Equal(now) || !cov2[0].End.Equal(now.Add(time.Minute)) {
		t.Errorf("coverage = %+v (%v), want one interval %s..%s", cov2, err, now, now.Add(time.Minute))
	}
}
