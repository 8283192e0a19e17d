package session

import (
	"slices"
	"sync"
	"time"
)

// The due wheel (Config.DueWheel) finds the keys a sweep must visit without
// visiting every slot. It holds keys, not slots (migrations move slots), in
// buckets by the minute of the table's clock at which they may be due: a
// live session at its end (or, when the sweeper must wait for its day, that
// end plus the reorder window), a tombstone when it may be cleared. A sweep
// visits the keys of every bucket up to its own minute, applies to each slot
// what a sweep over every slot applies to it (sweepSlot), and files the key
// again under the minute its slot may next be due, or drops it when the slot
// holds nothing (vacant).
//
// The invariant: every slot that holds a session or a tombstone has its key
// in a bucket no later than the minute its slot is next due. Requests only
// move a session's or tombstone's end later, so they keep it without filing
// anything, except a session start where no key was filed: in a new key's
// slot or a vacant one (ObserveClass files those). A session started over a
// tombstone or an ended session is due no earlier than the key already filed
// when the session's first end, min(idle, max), is at least the reorder
// window; with shorter rules every start files its key. A logout can make a
// slot due sooner (its tombstone is cleared a window after it), so every
// Logout files its key for the next sweep. A key may be filed more than
// once; a sweep visits it once (a second visit could clear the tombstone the
// first one left, which a sweep over every slot leaves to the next sweep),
// so copies cost a visit and never a count.
//
// A sweep first takes the keys of its buckets, and from then on keys are
// filed under its own minute or later: a key filed while it visits (by a
// request on another goroutine) never lands in a bucket it has emptied.
type wheel struct {
	mu      sync.Mutex
	buckets [][]uint64 // ring: the keys of minute m are in buckets[m%len]
	next    int64      // the first minute not yet visited wholly: sweeps visit from it (-1: nothing filed yet)
	swept   bool       // a sweep visited the wheel: next is the last sweep's minute
	refile  []uint64   // keys and ticks a sweep files again (pairs), after it visited every bucket
	batch   []uint64   // the keys a sweep visits
	sweeps  int        // sweeps so far: every fullEvery-th one also visits every slot
	// fullEvery: a sweep in that many also visits every slot, which keeps
	// shards compact (a sweep over every slot decides their migrations).
	// 0: never (tests).
	fullEvery int
	// restartsFiled: sessions started over a filed key are filed too (the
	// session rules are shorter than the reorder window).
	restartsFiled bool
	// logoutHook, when not nil, is called by Logout before it looks for
	// its key (tests: a sweep at that moment).
	logoutHook func()
}

// bucketKeep is the room for keys (8 KiB) a bucket's array keeps in any
// case: with 16, the buckets of quiet minutes growing again made replay
// allocate three times as often (BenchmarkReplay_NCSA: 0.05 allocations a
// line, 0.0165 with 1024 as without giving room back).
const bucketKeep = 1024

// wheelMinute is the length of a bucket, in ticks.
const wheelMinute = int64(time.Minute / Tick)

// wheelFullEvery is Config.DueWheel's interval, in sweeps, between sweeps
// that also visit every slot: with replay's sweep a minute, every hour of
// log time (a shard that fills up is compacted by the request that finds it
// full in any case). Against 16, 5 % more lines a second in
// BenchmarkReplay_NCSA.
const wheelFullEvery = 60

func newWheel(idle, max int64) *wheel {
	// A key is filed at most max(idle, max) plus the reorder window plus
	// one tick after the latest time the table saw; later minutes would
	// share a bucket with earlier ones, which only visits them early.
	span := (max+idle+int64(reorderWindow/Tick))/wheelMinute + 3
	return &wheel{
		buckets:       make([][]uint64, span),
		next:          -1,
		fullEvery:     wheelFullEvery,
		restartsFiled: min(idle, max) < int64(reorderWindow/Tick),
	}
}

// file puts key under the minute of tick due (at the earliest the next
// minute a sweep visits).
func (w *wheel) file(key uint64, due int64) {
	w.mu.Lock()
	w.fileLocked(key, due)
	w.mu.Unlock()
}

func (w *wheel) fileLocked(key uint64, due int64) {
	m := due / wheelMinute
	switch {
	case !w.swept && (w.next < 0 || m < w.next):
		w.next = m // the first sweep visits from the earliest minute filed
	case w.swept:
		m = max(m, w.next)
	}
	b := &w.buckets[m%int64(len(w.buckets))]
	*b = append(*b, key)
}

// sweepDue visits the keys filed up to tk's minute, and returns the sessions
// it completed. A key is visited once: those still to watch are filed again
// after every bucket was visited, at the earliest under tk's minute, which
// the next sweep visits (a sweep over every slot leaves a tombstone it just
// made to the next sweep too, however old).
//
// With full, the caller has just swept every slot at tk: the keys are only
// filed again, as their slots are now.
func (t *Table) sweepDue(tk int64, full bool) int {
	w := t.wheel
	cur := tk / wheelMinute
	w.mu.Lock()
	from, until := w.next, cur
	switch {
	case from < 0:
		from = cur
	case cur < from && !w.swept:
		// Before the first sweep keys are filed under the minutes they
		// may be due: none is due before the earliest.
		until = from - 1
	case cur < from:
		// A clock behind the last sweep's: the keys filed since under its
		// minute, for an earlier one, may be due; none filed later is.
		until = from
	}
	w.swept = true
	// From now on keys are filed under tk's minute or later: the buckets
	// this sweep empties before it stay empty. A clock behind the last
	// sweep's moves that minute back too, so that what becomes due at it
	// is filed where the next sweep looks.
	w.next = cur
	// Each bucket is emptied once at most: from a minute as far back as
	// the ring holds (a later minute filed there is visited early, and
	// filed again). The buckets keep their arrays for the minutes to come,
	// unless an array held far fewer keys than it has room for: after a
	// busy time every bucket's array would otherwise stay as long as the
	// busiest minute it held needed, for good.
	refile, batch := w.refile[:0], w.batch[:0]
	w.refile, w.batch = nil, nil
	for m := max(from, until-int64(len(w.buckets))+1); m <= until; m++ {
		b := &w.buckets[m%int64(len(w.buckets))]
		batch = append(batch, *b...)
		if cap(*b) > bucketKeep && cap(*b) > 4*len(*b) {
			*b = nil
		} else {
			*b = (*b)[:0]
		}
	}
	w.mu.Unlock()
	// A key filed more than once is visited once, as a sweep over every
	// slot visits its slot once: a second visit would clear the tombstone
	// the first one left.
	slices.Sort(batch)
	batch = slices.Compact(batch)
	n := 0
	for _, key := range batch {
		c, due, keep := t.visit(key, tk, !full)
		n += c
		if keep {
			refile = append(refile, key, uint64(due))
		}
	}
	w.mu.Lock()
	w.batch = batch[:0]
	for i := 0; i+1 < len(refile); i += 2 {
		w.fileLocked(refile[i], int64(refile[i+1]))
	}
	w.refile = refile[:0]
	w.mu.Unlock()
	return n
}

// visit applies a sweep at tk to the slot of key (unless act is false), and
// returns the sessions it completed and, unless the slot holds nothing (keep
// false), the tick at which the slot may next be due.
func (t *Table) visit(key uint64, tk int64, act bool) (n int, due int64, keep bool) {
	sh := t.shardOf(key)
	tab := sh.tab.Load()
	i := key & tab.mask
	for range tab.mask + 1 {
		s := &tab.s[i]
		switch s.key.Load() {
		case emptyKey:
			return 0, 0, false
		case frozenKey:
			return 0, tk, true // being migrated: visited again by the next sweep
		case key:
			if act {
				completed, _, frozen := t.sweepSlot(sh, s, tk, false)
				if completed {
					n = 1
				}
				if frozen {
					return n, tk, true
				}
			}
			st := s.state.Load()
			switch {
			case st&frozenBit != 0:
				return n, tk, true
			case st == 0 || st == vacant:
				return n, 0, false // a session started here files its key
			case st&liveBit == 0:
				return n, t.tombstoneEnd(st) + int64(reorderWindow/Tick), true
			}
			last, start := unpack(st)
			end := t.end(last, start)
			if end <= tk {
				end += int64(reorderWindow / Tick) // over, waiting for its day (dayOpen)
			}
			return n, end, true
		}
		i = (i + 1) & tab.mask
	}
	return 0, 0, false
}
