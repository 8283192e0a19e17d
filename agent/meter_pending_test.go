package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/session"
	"headcount/store"
)

// unreadable makes the database file at path unreadable past its two meta
// pages, as a disk failing its reads does (a read through bbolt's memory
// map faults), and returns a function that puts the bytes back.
func unreadable(t *testing.T, path string) (restore func()) {
	t.Helper()
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(2*os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	return func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(saved, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// runUntilCrash drives rounds of 5 sessions through a meter, each flushed.
// The commit of the flush of round failAt reports a failure (it reached the
// file, as after a failed fdatasync) and from then on the file cannot be
// read, so that the meter cannot tell whether it landed. After the last
// round the process "crashes": the disk reads again, the database is
// closed without a shutdown flush. It returns the database's path and the
// sessions driven.
func runUntilCrash(t *testing.T, rounds, failAt int) (string, uint64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "headcount.db")
	var restore func()
	fail := false
	db, err := store.Open(path, store.Options{AfterCommit: func() error {
		if !fail {
			return nil
		}
		fail = false
		restore = unreadable(t, path)
		return errSync
	}})
	if err != nil {
		t.Fatal(err)
	}
	m, driven := meterRounds(t, db, rounds, func(r int) { fail = r == failAt })
	if got, want := m.FlushErrors(), uint64(rounds-failAt); got != want {
		t.Fatalf("%d flushes failed; want %d, one a round from round %d on", got, want, failAt)
	}
	if restore == nil {
		t.Fatal("no commit failed: the test injected nothing")
	}
	restore()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, driven
}

// restart opens the database at path as the next start does and returns it
// with the meter that recovered it.
func restart(t *testing.T, path string) (*store.DB, *Meter) {
	t.Helper()
	db := mustOpen(t, path, store.Options{})
	table, err := session.New(session.Config{IdleTimeout: time.Minute}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := NewMeter(MeterOptions{Table: table, Coverage: &Coverage{}, DB: db, FlushEvery: time.Second, Clock: SystemClock(), Log: zerolog.Nop()})
	if _, err := m.Recover(time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	return db, m
}

// While the stored flush sequence cannot be read, no flush is attempted, but
// each one writes the pending file: a crash then loses only what reached
// neither the database nor the pending file (before, every session since
// the reads began to fail was lost).
func TestMeter_UnreadableSequenceStillWritesPendingFile(t *testing.T) {
	path, driven := runUntilCrash(t, 4, 1)
	db, _ := restart(t, path)
	c, err := db.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Started != driven || c.Completed != driven {
		t.Errorf("after the crash and a restart: started %d, completed %d; want %d each (every round was flushed to the pending file's directory, which could be written)",
			c.Started, c.Completed, driven)
	}
}

// After a failed commit whose landing cannot be read, the pending file holds
// the flush in doubt and no empty flush after it: one with the zero time
// (year 1) was set aside at the next start as "flush time 0001-01-01",
// blaming a wall clock though none was wrong.
func TestMeter_PendingFileHoldsNoEmptyFlush(t *testing.T) {
	path, driven := runUntilCrash(t, 2, 1)
	db, m := restart(t, path)
	r, err := db.Check(time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if m.SetAside() != 0 || len(r.SetAside) != 0 || len(r.Problems) != 0 {
		t.Errorf("set aside at start: %d, check lists %v, problems %v; want none (no clock was off)", m.SetAside(), r.SetAside, r.Problems)
	}
	c, err := db.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Started != driven || c.Completed != driven {
		t.Errorf("started %d, completed %d; want %d each", c.Started, c.Completed, driven)
	}
}
