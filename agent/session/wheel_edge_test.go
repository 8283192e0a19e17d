package session

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
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
	if sa, sb := p.plain.Stats(), p.wheeled.Stats(); sa != sb {
		p.t.Fatalf("after the sweep at %s: stats %+v without the wheel, %+v with it", at, sa, sb)
	}
	if ha, hb := p.plain.Held(), p.wheeled.Held(); ha != hb {
		p.t.Fatalf("after the sweep at %s: %d places held without the wheel, %d with it", at, ha, hb)
	}
	if p.sweeps%4 == 0 || p.sweeps < 20 {
		da, db := sortedDelta(p.plain.Collect()), sortedDelta(p.wheeled.Collect())
		if !reflect.DeepEqual(da, db) {
			p.t.Fatalf("after the sweep at %s: Collect gave\n%v\nwithout the wheel and\n%v\nwith it", at, da, db)
		}
	}
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

// A sweep at a time before the last sweep's still does what sweeping every
// slot does at that time: it clears the tombstone of a logout that came in
// late, filed since the last sweep under that sweep's minute. The wheel
// visited nothing for a clock behind its last sweep's.
func TestWheel_SweepBehindTheLastSweep(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	p := newPair(t, Config{Shards: 4, MinShardSlots: 4}, t0)
	p.observe(0xa1, t0)
	p.sweep(t0.Add(time.Minute))
	p.sweep(t0.Add(10 * time.Minute))
	p.logout(0xa1, t0.Add(8*time.Minute)) // late: its tombstone goes at 10:09
	p.sweep(t0.Add(9*time.Minute + 30*time.Second))
	if held := p.plain.Held(); held != 0 {
		t.Fatalf("%d places held without the wheel after the tombstone went, want 0", held)
	}
}

// A sweep that runs while a logout is under way, between the logout's
// start and its change to the slot, leaves the key filed for the tombstone
// the logout then leaves: the next sweep after its reorder window clears it,
// as sweeping every slot does when the sweep came first. The logout filed
// its key before it changed the slot; the sweep took that copy, found the
// session live and filed it again under the session's end, half an hour
// on, and the tombstone held its place until then.
func TestWheel_SweepDuringLogout(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	p := newPair(t, Config{Shards: 4, MinShardSlots: 4}, t0)
	p.observe(0xa1, t0) // ends at 10:30
	p.sweep(t0.Add(time.Minute))
	during := t0.Add(5*time.Minute + 30*time.Second)
	swept := -1
	p.wheeled.wheel.logoutHook = func() { swept = p.wheeled.Sweep(during) }
	if n := p.plain.Sweep(during); n != 0 {
		t.Fatalf("the sweep at %s without the wheel completed %d sessions, want 0", during, n)
	}
	p.logout(0xa1, t0.Add(5*time.Minute)) // its tombstone goes at 10:06
	p.wheeled.wheel.logoutHook = nil
	if swept != 0 {
		t.Fatalf("the sweep during the logout completed %d sessions, want 0", swept)
	}
	p.sweep(t0.Add(6*time.Minute + 30*time.Second))
	if held := p.plain.Held(); held != 0 {
		t.Fatalf("%d places held without the wheel after the tombstone went, want 0", held)
	}
}

// Schedules TestWheel_SameAsSweepingEverySlot does not make: sweeps before
// any request, sweeps that go back in time, clock jumps far beyond the
// wheel's span, requests and logouts late by far more than the reorder
// window, SetWall steps, EndAll in the middle with requests after it, and
// a MaxLive small enough that places decide overflows; with the wheel alone
// or with every third sweep visiting every slot too.
func TestWheel_SameAsSweepingEverySlotOddSchedules(t *testing.T) {
	rules := [][2]time.Duration{
		{30 * time.Minute, 4 * time.Hour},
		{20 * time.Second, 50 * time.Second},
		{90 * time.Second, 30 * time.Second},
		{10 * time.Millisecond, 2 * time.Second},
		{5 * time.Minute, 24 * time.Hour},
		{2 * time.Minute, 3 * time.Minute},
	}
	for seed := uint64(1); seed <= 200; seed++ {
		r := rules[seed%uint64(len(rules))]
		maxLive := []int64{0, 2, 5, 20}[seed/uint64(len(rules))%4]
		t.Run(fmt.Sprintf("seed=%d/idle=%s/max=%s/maxlive=%d", seed, r[0], r[1], maxLive), func(t *testing.T) {
			oddSchedule(t, seed, r[0], r[1], maxLive)
		})
	}
}

func oddSchedule(t *testing.T, seed uint64, idle, maxSession time.Duration, maxLive int64) {
	rng := rand.New(rand.NewPCG(seed, 0x0dd5))
	created := time.Date(2026, 3, 9, 23, 20, 0, 3_000_000, time.UTC)
	p := newPair(t, Config{IdleTimeout: idle, MaxSession: maxSession, Shards: 4, MinShardSlots: 4, MaxLive: maxLive}, created)
	p.wheeled.wheel.fullEvery = int(seed / 24 % 2 * 3) // every third sweep also visits every slot, or none
	keys := make([]uint64, 2+rng.IntN(40))
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	now := created
	if rng.IntN(2) == 0 {
		p.sweep(now.Add(time.Duration(rng.IntN(90)) * time.Minute)) // before any request
	}
	span := max(idle, maxSession) + idle + 4*time.Minute
	for step := 0; step < 2000; step++ {
		switch rng.IntN(60) {
		case 0:
			now = now.Add(span + time.Duration(rng.Int64N(int64(3*span)))) // beyond the wheel's span
		case 1:
			now = now.Add(time.Duration(rng.IntN(5)) * time.Hour)
		case 2:
			midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
			if at := midnight.Add(-time.Duration(rng.Int64N(int64(2 * time.Minute)))); at.After(now) {
				now = at // just before a UTC midnight
			}
		default:
			scale := []time.Duration{Tick, time.Second, 10 * time.Second, time.Minute}[rng.IntN(4)]
			now = now.Add(time.Duration(rng.Int64N(int64(5 * scale))))
		}
		at := now
		switch rng.IntN(10) {
		case 0:
			at = now.Add(-time.Duration(rng.Int64N(int64(time.Minute))))
		case 1:
			at = now.Add(-time.Duration(rng.Int64N(int64(20 * time.Minute)))) // far too late
		}
		key := keys[rng.IntN(len(keys))]
		switch op := rng.IntN(100); {
		case op < 6:
			p.logout(key, at)
		case op < 14:
			if rng.IntN(2) == 0 {
				now = now.Truncate(time.Minute).Add(time.Minute)
			}
			p.sweep(now)
		case op < 16:
			p.sweep(now.Add(-time.Duration(rng.Int64N(int64(5 * time.Minute))))) // back in time
		case op < 17:
			p.sweep(now.Add(time.Duration(rng.Int64N(int64(3 * span))))) // far ahead, then back
		case op < 18:
			wall := now.Add(time.Duration(rng.Int64N(int64(48*time.Hour))) - 24*time.Hour)
			p.plain.SetWall(now, wall)
			p.wheeled.SetWall(now, wall)
		case op == 18 && rng.IntN(4) == 0:
			if a, b := p.plain.EndAll(now), p.wheeled.EndAll(now); a != b {
				t.Fatalf("EndAll at %s completed %d without the wheel, %d with it", now, a, b)
			}
			sameTables(t, "after EndAll in the middle", p.plain, p.wheeled, true)
		default:
			p.observe(key, at)
		}
	}
	end := now.Add(time.Minute)
	if a, b := p.plain.EndAll(end), p.wheeled.EndAll(end); a != b {
		t.Fatalf("EndAll completed %d without the wheel, %d with it", a, b)
	}
	sameTables(t, "after EndAll", p.plain, p.wheeled, true)
}

// Requests and logouts on several goroutines while sweeps run: afterwards
// every slot that holds a session or a tombstone has its key filed where a
// sweep visits it no later than the slot is due, and sweeps after every
// session's end leave nothing live and no place held (a key lost while a
// sweep emptied its bucket would keep its session live for good). Rules
// shorter and longer than the reorder window; run with -race.
func TestWheel_ConcurrentRequestsDuringSweeps(t *testing.T) {
	for _, r := range [][2]time.Duration{{30 * time.Minute, 4 * time.Hour}, {20 * time.Second, 50 * time.Second}, {2 * time.Minute, 3 * time.Minute}} {
		t.Run(fmt.Sprintf("idle=%s/max=%s", r[0], r[1]), func(t *testing.T) {
			t0 := time.Date(2026, 3, 10, 23, 40, 0, 0, time.UTC)
			tab := MustNew(t, Config{IdleTimeout: r[0], MaxSession: r[1], Shards: 4, MinShardSlots: 4, DueWheel: true}, t0)
			tab.wheel.fullEvery = 0
			tab.wheel.logoutHook = runtime.Gosched // a sweep may run between a logout's start and its change
			var clock atomic.Int64                 // log time since t0, in milliseconds
			const workers, steps = 4, 20000
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 0xc0c0))
					keys := make([]uint64, 200)
					for i := range keys {
						keys[i] = rng.Uint64()
					}
					for range steps {
						ms := clock.Add(rng.Int64N(40))
						at := t0.Add(time.Duration(ms-rng.Int64N(30_000)) * time.Millisecond)
						key := keys[rng.IntN(len(keys))]
						if rng.IntN(12) == 0 {
							tab.Logout(key, at)
						} else {
							tab.Observe(key, at)
						}
					}
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			sweeps := 0
			for running := true; running; {
				select {
				case <-done:
					running = false
				default:
				}
				tab.Sweep(t0.Add(time.Duration(clock.Load()) * time.Millisecond))
				sweeps++
			}
			if sweeps < 10 {
				t.Fatalf("only %d sweeps ran with the requests: the test compares too little", sweeps)
			}
			wheelInvariantHolds(t, tab)
			end := t0.Add(time.Duration(clock.Load())*time.Millisecond + r[1] + 2*time.Minute)
			tab.Sweep(end)
			tab.Sweep(end.Add(2 * time.Minute))
			if s := tab.Stats(); s.Live != 0 || tab.Held() != 0 || s.Started == 0 {
				t.Fatalf("after every session's end: %d live, %d places held, %d started; want 0 live and 0 held", s.Live, tab.Held(), s.Started)
			}
		})
	}
}

// wheelInvariantHolds fails unless every slot of tab that holds a session
// or a tombstone has its key in a bucket that a sweep visits no later than
// the minute the slot is due (or the next sweep's, if that is later).
func wheelInvariantHolds(t *testing.T, tab *Table) {
	t.Helper()
	w := tab.wheel
	w.mu.Lock()
	defer w.mu.Unlock()
	n := int64(len(w.buckets))
	visited := make(map[uint64]int64) // key: the earliest minute a sweep visits it
	for b, keys := range w.buckets {
		m := w.next + ((int64(b)-w.next)%n+n)%n // the first minute from next on that visits bucket b
		for _, k := range keys {
			if v, ok := visited[k]; !ok || m < v {
				visited[k] = m
			}
		}
	}
	window := int64(reorderWindow / Tick)
	checked := 0
	for i := range tab.shards {
		for j := range tab.shards[i].tab.Load().s {
			s := &tab.shards[i].tab.Load().s[j]
			k, st := s.key.Load(), s.state.Load()
			if k == emptyKey || k == frozenKey || st == 0 || st == vacant {
				continue
			}
			var due int64
			if st&liveBit == 0 {
				due = tab.tombstoneEnd(st) + window
			} else {
				last, start := unpack(st)
				due = tab.end(last, start)
				if tab.day(due-1) != tab.day(last) {
					due += window // the sweeper waits for its day
				}
			}
			checked++
			v, ok := visited[k]
			if !ok || v > max(due/wheelMinute, w.next) {
				t.Fatalf("key %x (state %x) is due at minute %d; the wheel visits it first at minute %d (filed: %v; next %d)", k, st, due/wheelMinute, v, ok, w.next)
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no slot held a session or a tombstone: the check compares nothing")
	}
}

// After a busy hour and a quiet time longer than the wheel's span, the
// wheel's buckets hold arrays for about the keys filed now, not for the
// busiest minute each bucket held: they kept those for good (20 s idle, 1
// minute at most, a wheel of 5 buckets: room for 174,080 keys with 4
// filed, after at most 18,664 filed at once).
func TestWheel_BucketsGiveBackRoomAfterABusyTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	tab := MustNew(t, Config{IdleTimeout: 20 * time.Second, MaxSession: time.Minute, Shards: 16, DueWheel: true}, t0)
	keys := make([]uint64, 20000)
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	now, next := t0, t0.Add(time.Minute)
	peak := 0
	for busy := t0.Add(time.Hour); now.Before(busy.Add(30 * time.Minute)); {
		n, gap := 10, time.Minute
		if now.Before(busy) {
			n, gap = len(keys), 3*time.Millisecond
		}
		now = now.Add(time.Duration(rng.Int64N(int64(gap))))
		for !now.Before(next) {
			tab.Sweep(next)
			next = next.Add(time.Minute)
			filed, _ := wheelRoom(tab.wheel)
			peak = max(peak, filed)
		}
		tab.Observe(keys[rng.IntN(n)], now)
	}
	filed, room := wheelRoom(tab.wheel)
	limit := bucketKeep*len(tab.wheel.buckets) + 4*filed
	if peak < 2*limit {
		t.Fatalf("at most %d keys filed in the busy hour: the test compares too little", peak)
	}
	if room > limit {
		t.Fatalf("after the quiet time the buckets have room for %d keys (%d filed, at most %d in the busy hour), want at most %d", room, filed, peak, limit)
	}
}

// wheelRoom returns the keys filed in w's buckets and the room their arrays
// have.
func wheelRoom(w *wheel) (filed, room int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.buckets {
		filed += len(b)
		room += cap(b)
	}
	return filed, room
}
