package agent

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/session"
	"headcount/store"
)

// A wall clock briefly set to 1969 gives the sessions completed meanwhile a
// day the store cannot hold. That entry is set aside (logged, counted, shown
// by check) and every other count lands — that flush's and all later ones.
// Before, the store refused the whole flush, the meter kept it pending, and
// every later flush was refused with it: a crash then lost everything since.
func TestMeter_ClockIn1969DoesNotBlockFlushes(t *testing.T) {
	db, err := store.Open(t.TempDir()+"/headcount.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mono := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) // the monotonic clock, steady
	table, err := session.New(session.Config{IdleTimeout: time.Minute}, mono)
	if err != nil {
		t.Fatal(err)
	}
	cov := &Coverage{}
	m := NewMeter(MeterOptions{Table: table, Coverage: cov, DB: db, FlushEvery: time.Second, Clock: SystemClock(), Log: zerolog.Nop()})

	// Rounds of 5 new sessions, each ended by the idle rule and flushed;
	// the wall clock of round 1 reads 1969.
	walls := []time.Time{mono, time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), mono.Add(20 * time.Minute)}
	for r, wall := range walls {
		at := mono.Add(time.Duration(r) * 10 * time.Minute)
		table.SetWall(at, wall)
		for k := 0; k < 5; k++ {
			table.Observe(uint64(1000*r+k+1)*0x9E3779B97F4A7C15, at)
		}
		cov.Contact(at)
		end := at.Add(2 * time.Minute)
		table.Sweep(end)
		if err := m.Flush(end, wall.Add(2*time.Minute)); err != nil {
			t.Errorf("round %d: flush: %v", r, err)
		}
	}
	if m.FlushErrors() != 0 || m.SetAside() == 0 {
		t.Errorf("flush errors %d, entries set aside %d; want none failed and some set aside", m.FlushErrors(), m.SetAside())
	}
	c, err := db.Counters()
	if err != nil {
		t.Fatal(err)
	}
	days, _ := db.Days(mono.Add(-24*time.Hour), mono.Add(24*time.Hour))
	var byDay uint64
	for _, d := range days {
		byDay += d.Sessions
	}
	if c.Started != 15 || c.Completed != 15 || byDay != 10 || c.FlushCount != 3 {
		t.Errorf("stored started %d, completed %d, on days %d, flushes %d; want 15, 15, 10 (the 1969 day set aside), 3",
			c.Started, c.Completed, byDay, c.FlushCount)
	}
	r, err := db.Check(mono)
	if err != nil || len(r.Problems) != 0 || len(r.SetAside) == 0 || r.SetAside[0].Kind != store.AsideDay || r.SetAside[0].Sessions != 5 {
		t.Errorf("check: %+v, %v; want no problem and the 5 sessions of 1969-12-31 set aside first", r, err)
	}
}
