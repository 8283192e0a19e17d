package agent

import (
	"context"
	"path/filepath"
	"sync/atomic"
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

// TestMeter_Run drives the meter's loop by its ticks and clock: a sweep
// ends the sessions idle on the metering clock and no others, a flush
// writes what was swept, and Run returns when its context is done.
func TestMeter_Run(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var now atomic.Int64 // nanoseconds since start, on both clocks
	clock := func() (time.Time, time.Time) {
		at := start.Add(time.Duration(now.Load()))
		return at, at
	}
	table, err := session.New(session.Config{IdleTimeout: time.Minute, MaxSession: time.Hour}, start)
	if err != nil {
		t.Fatal(err)
	}
	cov := &Coverage{}
	sweepTick, flushTick := make(chan time.Time), make(chan time.Time)
	swept, flushed := make(chan struct{}, 1), make(chan error, 1)
	m := NewMeter(MeterOptions{Table: table, Coverage: cov, DB: db, FlushEvery: time.Hour, Clock: clock,
		SweepTick: sweepTick, FlushTick: flushTick,
		OnSweep: func() { swept <- struct{}{} }, OnFlush: func(err error) { flushed <- err }, Log: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	sweep := func() { sweepTick <- time.Time{}; <-swept }
	flush := func() {
		flushTick <- time.Time{}
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
	}
	completed := func() uint64 {
		c, err := db.Counters()
		if err != nil {
			t.Fatal(err)
		}
		return c.Completed
	}

	for k := uint64(10); k <= 12; k++ {
		table.Observe(k, start)
	}
	cov.Contact(start)
	now.Store(int64(30 * time.Second))
	table.Observe(12, start.Add(30*time.Second)) // the third client comes back
	sweep()
	flush()
	if c, _ := db.Counters(); c.Started != 3 || c.Completed != 0 {
		t.Errorf("after 30s: %d started, %d completed in the database; want 3 and 0", c.Started, c.Completed)
	}
	now.Store(int64(80 * time.Second)) // two clients idle for 80s, the third for 50s
	sweep()
	flush()
	if got := completed(); got != 2 {
		t.Errorf("after 80s: %d completed, want 2 (the idle timeout is 1m)", got)
	}
	if !m.LastFlush().Equal(start.Add(80 * time.Second)) {
		t.Errorf("last flush %s, want the metering clock's %s", m.LastFlush(), start.Add(80*time.Second))
	}
	days, err := db.Days(start.AddDate(0, 0, -1), start.AddDate(0, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 1 || days[0].Sessions != 2 || days[0].Day.Format("2006-01-02") != "2026-05-01" {
		t.Errorf("days = %+v, want 2 sessions on 2026-05-01", days)
	}
	flush() // nothing new: nothing counted twice
	if got := completed(); got != 2 {
		t.Errorf("after a second flush: %d completed, want 2", got)
	}
	cancel()
	<-done
	if got := completed(); got != 2 {
		t.Errorf("Run flushed at its end: %d completed, want 2 (Shutdown flushes)", got)
	}
}
