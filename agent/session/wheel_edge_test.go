package session

import (
	"fmt"
	"testing"
	"time"
)

// pair is a table with the due wheel and one without, fed the same calls.
type pair struct {
	t              *testing.T
	plain, wheeled *Table
	sweeps         int
}

func newPair(t *testing.T, cfg Config, created time.Time) *pair {
	t.Helper()
	cfg.DueWheel = false
	plain := MustNew(t, cfg, created)
	cfg.DueWheel = true
	wheeled := MustNew(t, cfg, created)
	wheeled.wheel.fullEvery = 0 // the wheel alone finds what is due
	return &pair{t: t, plain: plain, wheeled: wheeled}
}

func (p *pair) observe(key uint64, at time.Time) {
	p.t.Helper()
	cl := func() Class { return Class(key % 3) }
	if a, b := p.plain.ObserveClass(key, at, cl), p.wheeled.ObserveClass(key, at, cl); a != b {
		p.t.Fatalf("ObserveClass(%x) at %s: %v without the wheel, %v with it", key, at, a, b)
	}
}

func (p *pair) logout(key uint64, at time.Time) {
	p.t.Helper()
	if a, b := p.plain.Logout(key, at), p.wheeled.Logout(key, at); a != b {
		p.t.Fatalf("Logout(%x) at %s: %v without the wheel, %v with it", key, at, a, b)
	}
}

func (p *pair) sweep(at time.Time) {
	p.t.Helper()
	p.sweeps++
	if a, b := p.plain.Sweep(at), p.wheeled.Sweep(at); a != b {
		p.t.Fatalf("Sweep at %s completed %d without the wheel, %d with it", at, a, b)
	}
	sameTables(p.t, fmt.Sprintf("after the sweep at %s", at), p.plain, p.wheeled, true)
}

// A logout soon after the first request, before the first session's idle
// timeout: the sweeps after it clear its tombstone a minute after the
// logout with the wheel too. The first sweep came before the minute the
// first session was filed under (its end, half an hour on); the wheel kept
// that minute as where its sweeps start and filed everything later under it,
// so the logout's tombstone held a place for half an hour, and with
// MaxLive 2 a new key's session overflowed.
func TestWheel_FirstSweepBeforeTheFirstEnd(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	p := newPair(t, Config{Shards: 4, MinShardSlots: 4, MaxLive: 2}, t0)
	p.observe(0xa1, t0)          // ends at 10:30
	p.sweep(t0.Add(time.Minute)) // before 10:30: nothing filed is due
	p.observe(0xb2, t0.Add(90*time.Second))
	p.logout(0xb2, t0.Add(2*time.Minute)) // its tombstone goes at 10:03
	p.sweep(t0.Add(3 * time.Minute))
	p.sweep(t0.Add(4 * time.Minute))
	if held := p.plain.Held(); held != 1 {
		t.Fatalf("%d places held without the wheel after the tombstone went, want 1", held)
	}
	p.observe(0xc3, t0.Add(4*time.Minute+30*time.Second)) // takes the tombstone's place
	p.sweep(t0.Add(5 * time.Minute))
	if s := p.plain.Stats(); s.Completed[ReasonOverflow] != 0 || s.Live != 2 {
		t.Fatalf("without the wheel: %+v, want 2 live and no overflow", s)
	}
}
