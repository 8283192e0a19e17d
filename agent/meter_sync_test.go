package agent

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/session"
	"headcount/store"
)

// errSync is what a commit whose fdatasync failed returns.
var errSync = errors.New("fdatasync: input/output error")

// meterRounds drives rounds of 5 new sessions each through a meter on db,
// flushing after each round, and returns the meter and the sessions driven.
func meterRounds(t *testing.T, db *store.DB, rounds int, before func(round int)) (*Meter, uint64) {
	t.Helper()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	table, err := session.New(session.Config{IdleTimeout: time.Minute}, now)
	if err != nil {
		t.Fatal(err)
	}
	cov := &Coverage{}
	m := NewMeter(MeterOptions{Table: table, Coverage: cov, DB: db, FlushEvery: time.Second, Clock: SystemClock(), Log: zerolog.Nop()})
	var driven uint64
	for r := 0; r < rounds; r++ {
		at := now.Add(time.Duration(r) * 10 * time.Minute)
		table.SetWall(at, at)
		for k := 0; k < 5; k++ {
			table.Observe(uint64(1000*r+k+1)*0x9E3779B97F4A7C15, at)
			driven++
		}
		cov.Contact(at)
		table.Sweep(at.Add(2 * time.Minute))
		if before != nil {
			before(r)
		}
		_ = m.Flush(at.Add(2*time.Minute), at.Add(2*time.Minute))
	}
	return m, driven
}

// mustTotals checks that db holds exactly driven sessions everywhere they
// are counted, and that check finds nothing wrong.
func mustTotals(t *testing.T, db *store.DB, driven uint64) {
	t.Helper()
	c, err := db.Counters()
	if err != nil {
		t.Fatal(err)
	}
	days, err := db.Days(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var byDay uint64
	for _, d := range days {
		byDay += d.Sessions
	}
	snap, err := db.Snapshot(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), store.Parts{Windows: true})
	if err != nil {
		t.Fatal(err)
	}
	var byWindow uint64
	for _, w := range snap.Windows {
		byWindow += w.Sessions
	}
	if c.Started != driven || c.Completed != driven || byDay != driven || byWindow != driven {
		t.Errorf("stored started %d, completed %d, days %d, windows %d; want %d each (driven once, stored once)",
			c.Started, c.Completed, byDay, byWindow, driven)
	}
	r, err := db.Check(time.Now())
	if err != nil || len(r.Problems) > 0 {
		t.Errorf("check: %+v, %v", r, err)
	}
}

// TestMeter_FailedSyncNotAppliedTwice makes every other flush's commit
// report a failure after the transaction reached the file, as a failed
// fdatasync does: the meter must find each such flush in the
// database and not write it again.
func TestMeter_FailedSyncNotAppliedTwice(t *testing.T) {
	var commits atomic.Int64
	db := mustOpen(t, filepath.Join(t.TempDir(), "headcount.db"), store.Options{AfterCommit: func() error {
		if commits.Add(1)%2 == 1 {
			return errSync
		}
		return nil
	}})
	m, driven := meterRounds(t, db, 6, nil)
	if m.FlushErrors() != 3 {
		t.Errorf("flush errors = %d, want 3", m.FlushErrors())
	}
	mustTotals(t, db, driven)
	if seq, err := db.FlushSeq(); seq != 6 || err != nil {
		t.Errorf("flush sequence = %d, %v; want 6 (each flush applied once)", seq, err)
	}
}

// TestMeter_FailedSyncKeepsTheLock: a failed commit does not release the
// database. A second agent or an import that got the file in between could
// count the live sessions as recovered, or write a flush of its own that the
// meter would take for its own: neither can open it.
func TestMeter_FailedSyncKeepsTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	var commits atomic.Int64
	db := mustOpen(t, path, store.Options{AfterCommit: func() error {
		if commits.Add(1)%2 == 0 {
			return errSync
		}
		return nil
	}})
	m, driven := meterRounds(t, db, 4, func(int) {
		if other, err := store.Open(path, store.Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, store.ErrLocked) {
			if other != nil {
				other.Close()
			}
			t.Fatalf("another writer opened the database while the meter holds it: %v", err)
		}
	})
	if m.FlushErrors() == 0 {
		t.Errorf("no commit failed: the test injected nothing")
	}
	mustTotals(t, db, driven)
}
