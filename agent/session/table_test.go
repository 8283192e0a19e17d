package session

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 14, 22, 0, 0, 0, time.UTC)

func MustNew(t testing.TB, cfg Config, now time.Time) *Table {
	t.Helper()
	tab, err := New(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// counts sums a Delta's completions by "YYYY-MM-DD reason".
func counts(d Delta) map[string]uint64 {
	m := make(map[string]uint64)
	for _, c := range d.Completions {
		m[c.Day.Format("2006-01-02")+" "+c.Reason.String()] += c.Sessions
	}
	return m
}

func equalCounts(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestTable_Semantics(t *testing.T) {
	const k1, k2 = 0xdeadbeef, 0xfeedface
	type event struct {
		at      time.Duration // after t0
		op      string        // "req", "logout", "sweep", "end"
		key     uint64
		started bool // req: expected to start a session; logout: expected to end one
	}
	cases := []struct {
		name   string
		events []event
		want   map[string]uint64
		live   int64
	}{
		{
			name: "requests within idle timeout are one session",
			events: []event{
				{0, "req", k1, true}, {10 * time.Minute, "req", k1, false}, {39 * time.Minute, "req", k1, false},
				{68 * time.Minute, "req", k1, false}, {2 * time.Hour, "sweep", 0, false},
			},
			want: map[string]uint64{"2026-03-14 idle": 1},
		},
		{
			// the table keeps time in ticks, so only a gap of more than a tick
			// beyond the idle timeout proves the timeout passed
			name: "idle timeout ends the session and the next request starts another",
			events: []event{
				{0, "req", k1, true}, {30*time.Minute + Tick, "req", k1, true}, {45 * time.Minute, "req", k1, false},
			},
			want: map[string]uint64{"2026-03-14 idle": 1},
			live: 1,
		},
		{
			name: "a request just under the idle timeout keeps the session",
			events: []event{
				{0, "req", k1, true}, {30*time.Minute - Tick, "req", k1, false},
			},
			want: map[string]uint64{},
			live: 1,
		},
		{
			name: "maximum duration ends the session and the next request starts a new one",
			events: func() []event {
				var ev []event
				ev = append(ev, event{0, "req", k1, true})
				for m := 20; m < 240; m += 20 {
					ev = append(ev, event{time.Duration(m) * time.Minute, "req", k1, false})
				}
				return append(ev, event{240*time.Minute + Tick, "req", k1, true}, event{250 * time.Minute, "req", k1, false})
			}(),
			// the first session's last request was at 22:00+220m = 01:40 on the 15th
			want: map[string]uint64{"2026-03-15 max": 1},
			live: 1,
		},
		{
			name: "the sweeper ends a session past its maximum",
			events: func() []event {
				ev := []event{{0, "req", k1, true}}
				for m := 25; m < 240; m += 25 {
					ev = append(ev, event{time.Duration(m) * time.Minute, "req", k1, false})
				}
				return append(ev, event{240*time.Minute + Tick, "sweep", 0, false})
			}(),
			// last request at 22:00+225m = 01:45 on the 15th
			want: map[string]uint64{"2026-03-15 max": 1},
		},
		{
			name: "logout ends the session on the logout's day and the next request starts a new one",
			events: []event{
				{0, "req", k1, true}, {25 * time.Minute, "req", k1, false}, {50 * time.Minute, "req", k1, false},
				{75 * time.Minute, "req", k1, false}, {100 * time.Minute, "req", k1, false}, {2*time.Hour + time.Minute, "logout", k1, true},
				{2*time.Hour + 2*time.Minute, "req", k1, true},
			},
			want: map[string]uint64{"2026-03-15 logout": 1},
			live: 1,
		},
		{
			name: "logout without a live session ends nothing and starts nothing",
			events: []event{
				{0, "logout", k1, false}, {time.Minute, "req", k2, true}, {2 * time.Minute, "logout", k1, false},
			},
			want: map[string]uint64{},
			live: 1,
		},
		{
			name: "logout after the idle timeout completes the session as idle",
			events: []event{
				{0, "req", k1, true}, {40 * time.Minute, "logout", k1, false},
			},
			want: map[string]uint64{"2026-03-14 idle": 1},
		},
		{
			name: "day of the last request, not of the start or the sweep, across UTC midnight",
			events: []event{
				{1*time.Hour + 35*time.Minute, "req", k1, true}, {1*time.Hour + 59*time.Minute, "req", k1, false}, // 23:59 on the 14th
				{1*time.Hour + 50*time.Minute, "req", k2, true}, {2*time.Hour + 1*time.Minute, "req", k2, false}, // 00:01 on the 15th
				{5 * time.Hour, "sweep", 0, false},
			},
			want: map[string]uint64{"2026-03-14 idle": 1, "2026-03-15 idle": 1},
		},
		{
			name: "shutdown ends live sessions, expired ones keep their reason",
			events: []event{
				{0, "req", k1, true}, {50 * time.Minute, "req", k2, true}, {55 * time.Minute, "end", 0, false},
			},
			want: map[string]uint64{"2026-03-14 idle": 1, "2026-03-14 shutdown": 1},
		},
		{
			name: "a clock that steps backward neither ends nor shortens a session",
			events: []event{
				{10 * time.Minute, "req", k1, true}, {5 * time.Minute, "req", k1, false}, {35 * time.Minute, "req", k1, false},
			},
			want: map[string]uint64{},
			live: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab := MustNew(t, Config{}, t0)
			for i, ev := range tc.events {
				now := t0.Add(ev.at)
				switch ev.op {
				case "req":
					if got := tab.Observe(ev.key, now); got != ev.started {
						t.Fatalf("event %d: Observe started=%v, want %v", i, got, ev.started)
					}
				case "logout":
					if got := tab.Logout(ev.key, now); got != ev.started {
						t.Fatalf("event %d: Logout ended=%v, want %v", i, got, ev.started)
					}
				case "sweep":
					tab.Sweep(now)
				case "end":
					tab.EndAll(now)
				}
			}
			if got := counts(tab.Collect()); !equalCounts(got, tc.want) {
				t.Errorf("completions = %v, want %v", got, tc.want)
			}
			if got := tab.Live(); got != tc.live {
				t.Errorf("live = %d, want %d", got, tc.live)
			}
		})
	}
}

func TestTable_Collect(t *testing.T) {
	tab := MustNew(t, Config{IdleTimeout: time.Minute}, t0)
	for k := uint64(10); k < 20; k++ {
		tab.Observe(k, t0)
	}
	tab.Sweep(t0.Add(30 * time.Second))
	tab.Sweep(t0.Add(90 * time.Second))
	d := tab.Collect()
	if d.Started != 10 {
		t.Errorf("Started = %d, want 10", d.Started)
	}
	if got := counts(d); got["2026-03-14 idle"] != 10 || len(got) != 1 {
		t.Errorf("completions = %v, want 10 idle on 2026-03-14", got)
	}
	if len(d.Hours) != 1 || d.Hours[0].Peak != 10 || d.Hours[0].SampledMillis != 60000 || d.Hours[0].LiveMillis != 0 {
		t.Errorf("hours = %+v, want one hour with peak 10, 60000 ms sampled, 0 session-ms (all ended at the second sweep)", d.Hours)
	}
	if !d.Hours[0].Hour.Equal(t0) {
		t.Errorf("hour = %s, want %s", d.Hours[0].Hour, t0)
	}
	again := tab.Collect()
	if again.Started != 0 || len(again.Completions) != 0 || len(again.Hours) != 0 {
		t.Errorf("second Collect = %+v, want empty", again)
	}
}

// TestTable_GrowAndShrink fills shards far past their first size, checks every
// key is still one session, then lets them expire and checks the memory is
// given back.
func TestTable_GrowAndShrink(t *testing.T) {
	tab := MustNew(t, Config{Shards: 4, IdleTimeout: time.Minute}, t0)
	const n = 50000
	for k := uint64(0); k < n; k++ {
		if !tab.Observe(k*0x9E3779B97F4A7C15+3, t0) {
			t.Fatalf("key %d did not start a session", k)
		}
	}
	for k := uint64(0); k < n; k++ {
		if tab.Observe(k*0x9E3779B97F4A7C15+3, t0.Add(time.Second)) {
			t.Fatalf("key %d started a second session", k)
		}
	}
	if got := tab.Live(); got != n {
		t.Fatalf("live = %d, want %d", got, n)
	}
	if got := tab.Sweep(t0.Add(2 * time.Minute)); got != n {
		t.Fatalf("sweep completed %d, want %d", got, n)
	}
	tab.Sweep(t0.Add(3 * time.Minute))
	for i := range tab.shards {
		if size := len(tab.shards[i].tab.Load().s); size != tab.minSlots {
			t.Errorf("shard %d keeps %d slots after every session ended, want %d", i, size, tab.minSlots)
		}
	}
}

// TestTable_ExactlyOnceUnderRaces hammers a few keys from several goroutines
// with requests and logouts while a sweeper runs: every session started must
// be completed exactly once.
func TestTable_ExactlyOnceUnderRaces(t *testing.T) {
	tab := MustNew(t, Config{Shards: 2, MinShardSlots: 4, IdleTimeout: 50 * time.Millisecond, MaxSession: 200 * time.Millisecond}, t0)
	// A shared virtual clock that every operation moves 1 ms on: keys go idle
	// and reach their maximum while other goroutines still use them.
	var ms atomic.Int64
	clock := func() time.Time { return t0.Add(time.Duration(ms.Add(1)) * time.Millisecond) }
	const workers, ops = 4, 20000
	var wg sync.WaitGroup
	starts := make([]int, workers)
	stop := make(chan struct{})
	sweeps := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				sweeps <- n
				return
			default:
				n += tab.Sweep(clock())
			}
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < ops; i++ {
				key := uint64(r.IntN(40)) + 100 // more keys than slots: forces growth and compaction under load
				if r.IntN(10) == 0 {
					tab.Logout(key, clock())
				} else if tab.Observe(key, clock()) {
					starts[w]++
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	swept := <-sweeps
	tab.EndAll(clock().Add(time.Hour))
	total := 0
	for _, s := range starts {
		total += s
	}
	st := tab.Stats()
	var completed uint64
	for _, c := range st.Completed {
		completed += c
	}
	d := tab.Collect()
	var collected uint64
	for _, c := range d.Completions {
		collected += c.Sessions
	}
	// A logout handled after a request stamped later than it (the workers
	// read the clock, then act) ends the session before the request and
	// leaves a live one for it, counted as started by the table but not
	// reported by the Observe that came first: the table's starts may exceed
	// Observe's, never fall short, and every start is completed once.
	if st.Started < uint64(total) || completed != st.Started || collected != st.Started || d.Started != st.Started {
		t.Fatalf("Observe started %d, table started %d, completed %d (collected %d, delta started %d): want the last four equal, and not below the first",
			total, st.Started, completed, collected, d.Started)
	}
	if st.Live != 0 {
		t.Fatalf("live = %d after EndAll, want 0", st.Live)
	}
	if swept == 0 {
		t.Errorf("the sweeper completed no session: the race was not exercised")
	}
}

// reference is the plain model of the session rules: a mutex and a map.
type reference struct {
	mu       sync.Mutex
	idle     time.Duration
	max      time.Duration
	sessions map[uint64]*refSession
	done     map[string]uint64
	logouts  map[uint64]time.Time // a request not after a key's logout joins the logged-out session
}

type refSession struct{ start, last time.Time }

func newReference(idle, max time.Duration) *reference {
	return &reference{idle: idle, max: max, sessions: map[uint64]*refSession{}, done: map[string]uint64{}, logouts: map[uint64]time.Time{}}
}

func (r *reference) end(s *refSession, reason string, day time.Time) {
	r.done[day.UTC().Format("2006-01-02")+" "+reason]++
}

// expired reports whether s is over at now, and why: whichever end came first.
func (r *reference) expired(s *refSession, now time.Time) (string, bool) {
	// The table sees times in ticks and ends a session only when its ticks
	// prove the timeout passed: one tick later than the exact rule for times
	// on tick boundaries, as the streams below use.
	idleEnd, maxEnd := s.last.Add(r.idle+Tick), s.start.Add(r.max+Tick)
	if now.Before(idleEnd) && now.Before(maxEnd) {
		return "", false
	}
	if !idleEnd.After(maxEnd) {
		return "idle", true
	}
	return "max", true
}

func (r *reference) observe(key uint64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sessions[key]
	if s != nil {
		if reason, over := r.expired(s, now); over {
			r.end(s, reason, s.last)
			s = nil
		}
	}
	if s == nil {
		if lo, ok := r.logouts[key]; ok && !now.After(lo) {
			return
		}
		delete(r.logouts, key)
		r.sessions[key] = &refSession{start: now, last: now}
		return
	}
	s.last = now
}

func (r *reference) logout(key uint64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sessions[key]
	if s == nil {
		return
	}
	delete(r.sessions, key)
	if reason, over := r.expired(s, now); over {
		r.end(s, reason, s.last)
		return
	}
	r.end(s, "logout", now)
	r.logouts[key] = now
}

func (r *reference) endAll(now time.Time) {
	for key, s := range r.sessions {
		reason, over := r.expired(s, now)
		if !over {
			reason = "shutdown"
		}
		r.end(s, reason, s.last)
		delete(r.sessions, key)
	}
}

// TestTable_MatchesReference feeds the same random event streams to the table
// and to the reference model and requires the same completed counts per day
// and reason. Goroutines own disjoint keys; a virtual clock advances in
// phases, with the sweeper running concurrently inside each phase at the
// phase's start time (never later than any request of the phase, as a real
// clock guarantees).
// TestTable_Differential (differential_test.go) adds keys shared by many
// goroutines, events handled out of time order and late, and sweeps at
// session, hour and day boundaries, against a reference applied in time order.
func TestTable_MatchesReference(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			const (
				workers  = 4
				keysEach = 300
				phases   = 200
				step     = 3 * time.Minute // 200 phases × 3 min = 10 h, across a UTC midnight
			)
			idle, max := 30*time.Minute, 4*time.Hour
			tab := MustNew(t, Config{IdleTimeout: idle, MaxSession: max, Shards: 8}, t0)
			ref := newReference(idle, max)
			for p := 0; p < phases; p++ {
				phaseStart := t0.Add(time.Duration(p) * step)
				var wg sync.WaitGroup
				wg.Add(workers + 1)
				go func() {
					defer wg.Done()
					tab.Sweep(phaseStart)
				}()
				for w := 0; w < workers; w++ {
					go func(w int) {
						defer wg.Done()
						r := rand.New(rand.NewPCG(seed, uint64(p*workers+w)))
						now := phaseStart
						for i := 0; i < 100; i++ {
							now = now.Add(time.Duration(r.Int64N(int64(step/100/Tick))) * Tick) // the table keeps time in ticks
							key := uint64(w*keysEach+r.IntN(keysEach)) * 0x9E3779B97F4A7C15
							// Most keys are busy in bursts (active in one phase in five);
							// one key in seven is busy all the time and reaches the maximum.
							if key>>40%7 != 0 && (int(key>>40)+p/5)%5 != 0 {
								continue
							}
							if r.IntN(50) == 0 {
								tab.Logout(key, now)
								ref.logout(key, now)
							} else {
								tab.Observe(key, now)
								ref.observe(key, now)
							}
						}
					}(w)
				}
				wg.Wait()
			}
			end := t0.Add(phases * step)
			tab.EndAll(end)
			ref.endAll(end)
			got := counts(tab.Collect())
			if !equalCounts(got, ref.done) {
				t.Fatalf("table completions %v\nreference completions %v", got, ref.done)
			}
			var total uint64
			for _, n := range got {
				total += n
			}
			if total < 1000 || len(got) < 6 {
				t.Fatalf("only %d sessions in %d day/reason cells: the streams exercise too little", total, len(got))
			}
		})
	}
}

// TestTable_SetWall: after the wall clock is stepped, what completes is
// counted on the new wall clock's day, while durations keep following the
// callers' clock.
func TestTable_SetWall(t *testing.T) {
	tab := MustNew(t, Config{IdleTimeout: time.Minute}, t0)
	tab.Observe(10, t0)
	tab.Observe(20, t0)
	tab.SetWall(t0.Add(10*time.Second), t0.Add(10*time.Second+48*time.Hour)) // the wall clock jumps two days ahead
	if tab.Observe(10, t0.Add(30*time.Second)) {
		t.Fatal("a wall-clock step started a new session")
	}
	tab.Sweep(t0.Add(2 * time.Minute))
	want := map[string]uint64{"2026-03-16 idle": 2}
	if got := counts(tab.Collect()); !equalCounts(got, want) {
		t.Errorf("completions = %v, want %v (the day of the last request on the stepped wall clock)", got, want)
	}
}
