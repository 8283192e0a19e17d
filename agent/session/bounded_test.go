package session

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTable_MaxLive: with MaxLive places taken, a request with a new key is
// counted at once as a completed one-request session (reason overflow) and
// not kept, however often it comes; the sessions held go on as before; a
// place comes back when a session's tombstone is cleared, and EndAll gives
// every place back.
func TestTable_MaxLive(t *testing.T) {
	tab := MustNew(t, Config{IdleTimeout: time.Minute, MaxSession: time.Hour, MaxLive: 3}, t0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for k := uint64(1); k <= 3; k++ {
		if !tab.Observe(mixKey(k), at(0)) {
			t.Fatalf("key %d did not start a session", k)
		}
	}
	newcomer := mixKey(99)
	for i := 0; i < 4; i++ {
		if !tab.Observe(newcomer, at(time.Second)) {
			t.Fatal("a request beyond MaxLive reported no session")
		}
	}
	if tab.Observe(mixKey(2), at(2*time.Second)) {
		t.Error("a held session's next request started another one")
	}
	if got := tab.Held(); got != 3 {
		t.Errorf("held = %d, want 3", got)
	}
	if got := tab.Live(); got != 3 {
		t.Errorf("live = %d, want 3", got)
	}
	if tab.contains(newcomer) {
		t.Error("the overflowed key is in the table")
	}
	s := tab.Stats()
	if s.Started != 7 || s.Completed[ReasonOverflow] != 4 {
		t.Errorf("started %d, overflow %d; want 7 and 4", s.Started, s.Completed[ReasonOverflow])
	}
	d := tab.Collect()
	if want := map[string]uint64{"2026-03-14 overflow": 4}; !equalCounts(counts(d), want) || d.Started != 7 {
		t.Errorf("collected %v and %d started, want %v and 7", counts(d), d.Started, want)
	}

	// Key 1 and 3 go idle at 1m; key 2, seen at 2s, a little later. Their
	// tombstones hold their places for the reorder window.
	tab.Sweep(at(time.Minute + 10*time.Second))
	if got := tab.Held(); got != 3 {
		t.Errorf("held after the sessions ended = %d, want 3 (their tombstones)", got)
	}
	if !tab.Observe(newcomer, at(time.Minute+11*time.Second)) || tab.contains(newcomer) {
		t.Error("the newcomer was kept while tombstones held every place")
	}
	tab.Sweep(at(2*time.Minute + 10*time.Second))
	if got := tab.Held(); got != 0 {
		t.Errorf("held after the tombstones were cleared = %d, want 0", got)
	}
	if !tab.Observe(newcomer, at(2*time.Minute+11*time.Second)) || !tab.contains(newcomer) {
		t.Error("the newcomer was not kept once places were free")
	}
	if got := counts(tab.Collect()); !equalCounts(got, map[string]uint64{"2026-03-14 idle": 3, "2026-03-14 overflow": 1}) {
		t.Errorf("collected %v, want 3 idle and 1 overflow", got)
	}

	// A vacant slot's key (the first one, its tombstone cleared) needs a
	// place like a new key.
	for k := uint64(4); k <= 5; k++ {
		tab.Observe(mixKey(k), at(2*time.Minute+12*time.Second))
	}
	if !tab.Observe(mixKey(1), at(2*time.Minute+13*time.Second)) || tab.contains(mixKey(1)) {
		t.Error("a key of a vacant slot was kept beyond MaxLive")
	}
	if n := tab.EndAll(at(2*time.Minute + 14*time.Second)); n != 3 {
		t.Errorf("EndAll ended %d sessions, want 3", n)
	}
	if got := tab.Held(); got != 0 {
		t.Errorf("held after EndAll = %d, want 0", got)
	}
	if got := counts(tab.Collect()); !equalCounts(got, map[string]uint64{"2026-03-14 shutdown": 3, "2026-03-14 overflow": 1}) {
		t.Errorf("collected %v, want 3 shutdown and 1 overflow", got)
	}
}

// TestTable_MaxLiveLogoutFlood: a session ended by a logout keeps its place
// for the reorder window, so logging new keys in and out as fast as possible
// cannot grow the table beyond MaxLive either.
func TestTable_MaxLiveLogoutFlood(t *testing.T) {
	tab := MustNew(t, Config{MaxLive: 10, Shards: 1, MinShardSlots: 4}, t0)
	stored := 0
	for k := uint64(1); k <= 1000; k++ {
		key := k * 0x9E3779B97F4A7C15
		tab.Observe(key, t0)
		if tab.Logout(key, t0) {
			stored++
		}
		if h := tab.Held(); h > 10 {
			t.Fatalf("held %d places after %d keys, MaxLive 10", h, k)
		}
	}
	if stored != 10 {
		t.Errorf("%d sessions were logged out, want 10 (the others overflowed)", stored)
	}
	if size := tab.slotCount(); size > 32 {
		t.Errorf("the table has %d slots for 10 places", size)
	}
	s := tab.Stats()
	if s.Completed[ReasonLogout] != 10 || s.Completed[ReasonOverflow] != 990 || s.Started != 1000 {
		t.Errorf("started %d, logout %d, overflow %d; want 1000, 10, 990", s.Started, s.Completed[ReasonLogout], s.Completed[ReasonOverflow])
	}
}

// TestTable_MaxLiveFloodKeepsSlots: a flood of new keys beyond MaxLive
// allocates no slot: the shards keep the arrays they had when the table
// filled.
func TestTable_MaxLiveFloodKeepsSlots(t *testing.T) {
	tab := MustNew(t, Config{MaxLive: 5000}, t0)
	for k := uint64(1); k <= 5000; k++ {
		tab.Observe(mixKey(k), t0)
	}
	full := tab.slotCount()
	for k := uint64(5001); k <= 100_000; k++ {
		tab.Observe(mixKey(k), t0.Add(time.Second))
	}
	tab.Sweep(t0.Add(2 * time.Second))
	if got := tab.slotCount(); got != full {
		t.Errorf("%d slots after the flood, %d before", got, full)
	}
	s := tab.Stats()
	if s.Live != 5000 || s.Completed[ReasonOverflow] != 95_000 || s.Started != 100_000 {
		t.Errorf("live %d, overflow %d, started %d; want 5000, 95000, 100000", s.Live, s.Completed[ReasonOverflow], s.Started)
	}
}

// TestTable_MaxLiveUnderRaces: goroutines send the same keys in different
// orders while the shard grows. The places held never exceed MaxLive, and
// every key is either stored, with exactly one request that started its
// session, or not stored, with every one of its requests counted as an
// overflow session: never a key both stored and overflowed.
func TestTable_MaxLiveUnderRaces(t *testing.T) {
	const (
		maxLive    = 48
		keys       = 200
		goroutines = 6
		repeats    = 3
	)
	procs := runtime.GOMAXPROCS(0)
	if procs < 2 {
		runtime.GOMAXPROCS(2)
		defer runtime.GOMAXPROCS(procs)
	}
	for round := 0; round < 200; round++ {
		tab := MustNew(t, Config{MaxLive: maxLive, Shards: 1, MinShardSlots: 4}, t0)
		var trues [keys]atomic.Int64
		var over atomic.Int64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				if h, l := tab.Held(), tab.Live(); h > maxLive || l > maxLive {
					over.Store(max(h, l))
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(round)))
				order := rng.Perm(keys)
				<-start
				for r := 0; r < repeats; r++ {
					for _, k := range order {
						if tab.Observe(mixKey(uint64(k+1)), t0) {
							trues[k].Add(1)
						}
					}
				}
			}(uint64(g))
		}
		close(start)
		wg.Wait()
		close(stop)
		<-sampled
		if h := over.Load(); h != 0 {
			t.Fatalf("round %d: %d places or sessions held at once, MaxLive %d", round, h, maxLive)
		}
		stored, overflowed := int64(0), int64(0)
		for k := 0; k < keys; k++ {
			n := trues[k].Load()
			if tab.contains(mixKey(uint64(k + 1))) {
				stored++
				if n != 1 {
					t.Fatalf("round %d: key %d is stored and reported %d starts, want 1 (the others overflowed)", round, k, n)
				}
				continue
			}
			overflowed += n
			if n != goroutines*repeats {
				t.Fatalf("round %d: key %d is not stored and reported %d starts of %d requests", round, k, n, goroutines*repeats)
			}
		}
		s := tab.Stats()
		if stored > maxLive || s.Live != stored || tab.Held() != stored || int64(s.Completed[ReasonOverflow]) != overflowed || int64(s.Started) != stored+overflowed {
			t.Fatalf("round %d: %d keys stored, %d overflow requests; stats %+v, held %d", round, stored, overflowed, s, tab.Held())
		}
	}
}

// contains reports whether key has a live session in the table.
func (t *Table) contains(key uint64) bool {
	key = normalize(key)
	tab := t.shardOf(key).tab.Load()
	i := key & tab.mask
	for n := uint64(0); n <= tab.mask; n++ {
		s := &tab.s[i]
		switch s.key.Load() {
		case emptyKey:
			return false
		case key:
			return s.state.Load()&liveBit != 0
		}
		i = (i + 1) & tab.mask
	}
	return false
}

// slotCount returns the slots of every shard's array.
func (t *Table) slotCount() int {
	n := 0
	for i := range t.shards {
		n += len(t.shards[i].tab.Load().s)
	}
	return n
}

// mixKey spreads small numbers over the key space (and the shards).
func mixKey(k uint64) uint64 { return k * 0x9E3779B97F4A7C15 }
