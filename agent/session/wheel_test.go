package session

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// A table with the due wheel and one without, fed the same requests,
// logouts and sweeps one at a time, agree after every sweep on everything
// they expose: running totals, live sessions, places held (tombstones
// included, so that a tombstone cleared late shows), the completions and
// hour statistics Collect returns, and the sessions each sweep completed.
// The schedules use session rules shorter and longer than the reorder
// window, requests late by up to a minute, bursts of logouts, jumps over
// quiet hours and UTC midnights, and sweeps on and off minute boundaries;
// the wheel's table never (fullEvery 0) or often (every 3rd sweep) also
// visits every slot.
func TestWheel_SameAsSweepingEverySlot(t *testing.T) {
	rules := [][2]time.Duration{
		{30 * time.Minute, 4 * time.Hour},
		{30 * time.Minute, 45 * time.Minute},
		{20 * time.Second, 50 * time.Second},
		{90 * time.Second, 30 * time.Second},
		{10 * time.Millisecond, 2 * time.Second},
		{5 * time.Minute, 24 * time.Hour},
	}
	for seed := uint64(1); seed <= 60; seed++ {
		for _, full := range []int{0, 3} {
			r := rules[seed%uint64(len(rules))]
			t.Run(fmt.Sprintf("seed=%d/idle=%s/max=%s/full=%d", seed, r[0], r[1], full), func(t *testing.T) {
				wheelSameAsEverySlot(t, seed, r[0], r[1], full)
			})
		}
	}
}

func wheelSameAsEverySlot(t *testing.T, seed uint64, idle, maxSession time.Duration, full int) {
	rng := rand.New(rand.NewPCG(seed, 0x3ee1))
	created := time.Date(2026, 3, 9, 23, 20, 0, 3_000_000, time.UTC)
	cfg := Config{IdleTimeout: idle, MaxSession: maxSession, Shards: 4, MinShardSlots: 4}
	plain := MustNew(t, cfg, created)
	cfg.DueWheel = true
	wheeled := MustNew(t, cfg, created)
	wheeled.wheel.fullEvery = full

	keys := make([]uint64, 3+rng.IntN(60))
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	classes := func(key uint64) func() Class {
		return func() Class { return Class(key % 3) }
	}
	now := created
	gap := func() time.Duration {
		switch rng.IntN(40) {
		case 0:
			return time.Duration(rng.IntN(5)) * time.Hour // a quiet time
		case 1, 2:
			return min(idle, maxSession) + time.Duration(rng.IntN(3)-1)*Tick
		}
		scale := []time.Duration{Tick, time.Second, 10 * time.Second, time.Minute}[rng.IntN(4)]
		return time.Duration(rng.Int64N(int64(5 * scale)))
	}
	sweeps := 0
	for step := 0; step < 3000; step++ {
		now = now.Add(gap())
		at := now
		if rng.IntN(6) == 0 {
			at = now.Add(-time.Duration(rng.Int64N(int64(time.Minute)))) // late
		}
		key := keys[rng.IntN(len(keys))]
		switch rng.IntN(25) {
		case 0:
			a, b := plain.Logout(key, at), wheeled.Logout(key, at)
			if a != b {
				t.Fatalf("step %d: Logout at %s: %v without the wheel, %v with it", step, at, a, b)
			}
		case 1, 2:
			// A sweep, on a minute boundary as replay's or anywhere.
			if rng.IntN(2) == 0 {
				now = now.Truncate(time.Minute).Add(time.Minute)
			}
			a, b := plain.Sweep(now), wheeled.Sweep(now)
			sweeps++
			if a != b {
				t.Fatalf("step %d: Sweep at %s completed %d without the wheel, %d with it", step, now, a, b)
			}
			sameTables(t, fmt.Sprintf("step %d, after the sweep at %s", step, now), plain, wheeled, sweeps%8 == 0)
		default:
			a, b := plain.ObserveClass(key, at, classes(key)), wheeled.ObserveClass(key, at, classes(key))
			if a != b {
				t.Fatalf("step %d: ObserveClass at %s: %v without the wheel, %v with it", step, at, a, b)
			}
		}
	}
	if sweeps < 50 {
		t.Fatalf("only %d sweeps: the schedule compares too little", sweeps)
	}
	end := now.Add(time.Minute)
	if a, b := plain.EndAll(end), wheeled.EndAll(end); a != b {
		t.Fatalf("EndAll completed %d without the wheel, %d with it", a, b)
	}
	sameTables(t, "after EndAll", plain, wheeled, true)
}

// sameTables fails unless the two tables' totals, live and held counts and,
// with collect, Collect's deltas are equal.
func sameTables(t *testing.T, when string, a, b *Table, collect bool) {
	t.Helper()
	if sa, sb := a.Stats(), b.Stats(); sa != sb {
		t.Fatalf("%s: stats %+v without the wheel, %+v with it", when, sa, sb)
	}
	if ha, hb := a.Held(), b.Held(); ha != hb {
		t.Fatalf("%s: %d places held without the wheel, %d with it", when, ha, hb)
	}
	if !collect {
		return
	}
	da, db := sortedDelta(a.Collect()), sortedDelta(b.Collect())
	if fmt.Sprint(da) != fmt.Sprint(db) {
		t.Fatalf("%s: Collect gave\n%v\nwithout the wheel and\n%v\nwith it", when, da, db)
	}
}

func sortedDelta(d Delta) Delta {
	slices.SortFunc(d.Completions, func(x, y Completion) int {
		return cmpAll(x.Hour.Compare(y.Hour), int(x.Reason)-int(y.Reason), int(x.Class)-int(y.Class))
	})
	slices.SortFunc(d.Hours, func(x, y HourStat) int { return x.Hour.Compare(y.Hour) })
	return d
}

func cmpAll(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}
