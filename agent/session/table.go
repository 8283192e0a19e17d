// Package session recognises user sessions from request keys, in memory only.
//
// A Table maps 64-bit session keys to the live session they belong to. It is
// pure: it knows nothing of SPOP, HAProxy or storage, and every method that
// depends on time takes the time from its caller, so tests, benchmarks and log
// replay drive it with any clock.
//
// Layout. The table is split into shards by the key's top bits. Each shard is
// an open-addressing array of 16-byte slots (key word, state word) probed
// linearly. Requests touch slots only with atomic loads and compare-and-swap;
// no lock is taken and nothing is allocated on the request path. A shard grows
// or compacts by migration: the migrating goroutine freezes every slot of the
// old array (a frozen slot refuses further CAS), copies the live sessions (and
// the tombstones of sessions ended within the reorder window) into a new
// array and publishes it; a request that meets a frozen slot waits for
// the new array and retries there. A sweep visits every slot, or, with
// Config.DueWheel (log replay), only the keys a wheel of per-minute buckets
// says may be due, with the same result (see wheel).
//
// Out of time order. Requests and logouts of one key may reach the table out
// of time order, up to the reorder window (a minute) late, and are counted as
// in time order (see the ended states below), with one limit: a completed
// session is never counted again. A request past a session's idle or maximum
// end completes the session at once and starts the next, so a late request
// stamped before that end no longer joins it: it joins the next session,
// which is one session too many if it bridged the gap, and the completed
// session keeps the day of the last request seen before. A session the
// sweeper completed at its end that a late request then kept alive likewise
// keeps the reason and day it was counted with (the day differs only if the
// session then runs past a UTC midnight). The sweeper waits where waiting
// decides the day: it completes a session whose end falls on a later UTC day
// than its last request only once that end is the reorder window in the past.
//
// Exactly once. A session is started by the CAS that installs a live state and
// ended by the CAS that replaces that state; each CAS succeeds for exactly one
// goroutine, so each session is started once and completed once, whether it
// ends by a request, a logout, the sweeper or shutdown.
//
// Bounded memory. With Config.MaxLive, the table holds at most that many
// places: a place is a live session, the tombstone of a recently ended one,
// or a key being installed. A request that needs a new place when all are
// taken is counted at once as a completed one-request session
// (ReasonOverflow) and leaves nothing in the table. A place is reserved with
// a CAS on one counter before a key or a session is installed, so the bound
// is never exceeded; a request overflows only when every place is taken by
// a session, a tombstone or an installed key (not by a reservation that may
// yet be given back), and its key is absent then, as if the requests had
// come one at a time. Requests of known sessions never touch the counter.
package session

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Reason says why a session ended.
type Reason uint8

const (
	// ReasonIdle: no request with the session's key for the idle timeout.
	ReasonIdle Reason = iota
	// ReasonMax: the session reached the maximum duration.
	ReasonMax
	// ReasonLogout: HAProxy reported an explicit logout.
	ReasonLogout
	// ReasonShutdown: the agent stopped while the session was live.
	ReasonShutdown
	// ReasonOverflow: the request needed a new place while the table held
	// Config.MaxLive; it was counted as a session of that one request and
	// not kept.
	ReasonOverflow
	numReasons
)

// Reasons lists every Reason, in order.
var Reasons = [...]Reason{ReasonIdle, ReasonMax, ReasonLogout, ReasonShutdown, ReasonOverflow}

// Class says whether a session is a person's or a crawler's, decided once,
// when the key's first session in the table starts (the key holds the
// User-Agent, so its sessions share a class).
type Class uint8

const (
	// ClassHuman: the classifier took the session for a person's.
	ClassHuman Class = iota
	// ClassBot: the classifier took the session for a crawler's or a
	// monitor's.
	ClassBot
	// ClassUnclassified: no class was decided (no classifier, or it had no
	// time for the session's start).
	ClassUnclassified
	numClasses
)

// Classes lists every Class, in order.
var Classes = [...]Class{ClassHuman, ClassBot, ClassUnclassified}

// String returns the class as it appears in metrics: "human", "bot" or
// "unclassified".
func (c Class) String() string {
	switch c {
	case ClassHuman:
		return "human"
	case ClassBot:
		return "bot"
	case ClassUnclassified:
		return "unclassified"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// String returns the reason as it appears in metrics and the database.
func (r Reason) String() string {
	switch r {
	case ReasonIdle:
		return "idle"
	case ReasonMax:
		return "max"
	case ReasonLogout:
		return "logout"
	case ReasonShutdown:
		return "shutdown"
	case ReasonOverflow:
		return "overflow"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Tick is the table's time resolution. Session times are stored as ticks
// since the table's base time, so that a session fits in one 64-bit word.
const Tick = 10 * time.Millisecond

// MaxDuration is the longest idle timeout or maximum session a Table accepts
// (the width of the state word's age field).
const MaxDuration = 24 * time.Hour

// The session rules a Config holds unless it says otherwise (seed 004).
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxSession  = 4 * time.Hour
)

// Config sets a Table's session rules and size.
type Config struct {
	// IdleTimeout ends a session when no request with its key came for this
	// long. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxSession ends a session this long after its start; the next request
	// starts a new one. Default DefaultMaxSession.
	MaxSession time.Duration
	// Shards is the number of shards, a power of two. More shards spread
	// growth pauses thinner and contention wider at a fixed cost of 256 bytes
	// each plus MinShardSlots slots. Default 256.
	Shards int
	// MinShardSlots is the smallest slot array of a shard, a power of two.
	// Default 16.
	MinShardSlots int
	// MaxLive bounds the places the table holds: live sessions plus the
	// tombstones of sessions ended within about a minute (kept to recognise
	// late requests). Beyond it a request with a new key is counted at once
	// as a completed one-request session (ReasonOverflow) and not kept, so
	// the memory stays bounded: 16 bytes per slot, the shards kept between
	// 5/16 and 3/4 full, at most 3.2 slots (51 bytes) a place and about 1.6
	// (27 bytes) when the table is full (see DefaultMaxLive). 0: no bound.
	MaxLive int64
	// DueWheel makes sweeps visit only the keys that may be due, filed by
	// minute in a wheel (see wheel), instead of every slot; one sweep in
	// 60 still visits every slot, to keep the shards compact. Counts,
	// completions and samples are the same either way. It is for a table
	// whose clock runs far faster than the wall clock (log replay), where
	// sweeping every slot each minute of the log's time would cost more
	// than the requests; it costs a locked append at each session start.
	DueWheel bool
}

// DefaultMaxLive is the MaxLive the agent runs with unless told otherwise:
// with 256 shards, 40 million places fill each shard's array of 2^18 slots
// to 0.6, so the table's slots take 1 GiB (26.8 bytes a place) and no shard
// grows beyond that (a shard doubles above 5/8).
const DefaultMaxLive = 40_000_000

func (c *Config) setDefaults() error {
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxSession == 0 {
		c.MaxSession = DefaultMaxSession
	}
	if c.Shards == 0 {
		c.Shards = 256
	}
	if c.MinShardSlots == 0 {
		c.MinShardSlots = 16
	}
	switch {
	case c.IdleTimeout < Tick || c.IdleTimeout > MaxDuration:
		return fmt.Errorf("idle timeout %s is outside %s..%s", c.IdleTimeout, Tick, MaxDuration)
	case c.MaxSession < Tick || c.MaxSession > MaxDuration:
		return fmt.Errorf("maximum session %s is outside %s..%s", c.MaxSession, Tick, MaxDuration)
	case c.Shards < 1 || c.Shards&(c.Shards-1) != 0:
		return fmt.Errorf("shards %d is not a power of two", c.Shards)
	case c.MinShardSlots < 4 || c.MinShardSlots&(c.MinShardSlots-1) != 0:
		return fmt.Errorf("minimum shard slots %d is not a power of two of at least 4", c.MinShardSlots)
	case c.MaxLive < 0:
		return fmt.Errorf("maximum live sessions %d is negative", c.MaxLive)
	}
	return nil
}

// Key words: 0 marks an empty slot, 1 an empty slot frozen by a migration.
// Hashes that collide with them are moved to 2.
const (
	emptyKey  uint64 = 0
	frozenKey uint64 = 1
)

// State word: live flag, frozen flag, class, age (last-start) in ticks, last
// request in ticks (36 bits: the ticks of 21 years, the longest a table may
// run; see ticks).
// A state with the live flag clear holds no session: 0 is a slot whose key
// was just installed (it holds a place: see Table.places), vacant one whose key
// holds nothing, any other value the tombstone of a session that ended (see
// ended states below).
const (
	lastBits   = 36
	ageBits    = 24
	classShift = lastBits + ageBits
	lastMask   = 1<<lastBits - 1
	ageMask    = 1<<ageBits - 1
	frozenBit  = 1 << 62
	liveBit    = 1 << 63
)

// vacant is the state of a slot whose key holds neither a session nor a
// place: the tombstone it held was cleared, or EndAll ended its session. Its
// age field is one below logoutAge, an age no session reaches (MaxDuration
// is far fewer ticks). A migration drops vacant slots.
const vacant uint64 = (ageMask - 1) << lastBits

func packLive(last, start int64, class Class) uint64 {
	return liveBit | uint64(class)<<classShift | uint64(last-start)<<lastBits | uint64(last)
}

// classOf returns the class a state word carries: that of its live session,
// or of the session its tombstone recalls.
func classOf(st uint64) Class { return Class(st >> classShift & 3) }

func unpack(st uint64) (last, start int64) {
	last = int64(st & lastMask)
	return last, last - int64(st>>lastBits&ageMask)
}

// Ended states. Requests and logouts of one key can reach the table out of
// time order (HAProxy spreads frames over several SPOP connections). A
// session that ended leaves a tombstone so that a late request that belongs
// to it joins it instead of starting another:
//   - ended by idle time or maximum (by the sweeper, a logout or EndAll's
//     expiry): the session's state without the live flag. A request before
//     the session's end would have extended it; it is absorbed and moves the
//     tombstone's last request, as it would have moved the live session's.
//     A logout at a tick such a request would join ends it again, without
//     counting it: a logout tombstone, or a live session again if requests
//     after the logout were absorbed (Logout).
//   - ended by a logout: the logout's tick with the age field all ones (an
//     age no session reaches). A request before the logout's tick is
//     absorbed; one in the same tick starts a new session, as the rule says
//     of the request after a logout: frames read together share one clock
//     reading, so a page loaded right after the logout (a redirect to the
//     login page, on the same connection) carries the logout's very time.
//
// The sweeper clears a tombstone once its end is reorderWindow in the past.
const logoutAge = ageMask

func packLogout(tk int64, class Class) uint64 {
	return uint64(class)<<classShift | logoutAge<<lastBits | uint64(tk)
}

// reorderWindow is how late a request may reach the table and still be
// recognised as belonging to a session that already ended.
const reorderWindow = time.Minute

// absorbs reports whether a request at tk belongs to the ended session of
// tombstone st, and the tombstone to keep.
func (t *Table) absorbs(st uint64, tk int64) (uint64, bool) {
	last, start := unpack(st)
	if st>>lastBits&ageMask == logoutAge {
		return st, tk < last
	}
	if _, ended := t.ended(last, start, tk); ended {
		return st, false
	}
	if tk > last {
		return packLive(tk, start, classOf(st)) &^ liveBit, true
	}
	return st, true
}

// dayOpen reports whether at tk a late request could still move the ended
// session with the given last request and start to a later UTC day: its end
// is less than the reorder window in the past and its last tick before the
// end is on a later day than its last request. The sweeper completes such a
// session only after that.
func (t *Table) dayOpen(last, start, tk int64) bool {
	end := min(last+t.idle, start+t.max)
	return tk < end+int64(reorderWindow/Tick) && t.day(end-1) != t.day(last)
}

// tombstoneEnd returns the tick after which no request belongs to the ended
// session of tombstone st.
func (t *Table) tombstoneEnd(st uint64) int64 {
	last, start := unpack(st)
	if st>>lastBits&ageMask == logoutAge {
		return last
	}
	return min(last+t.idle, start+t.max)
}

type slot struct {
	key   atomic.Uint64
	state atomic.Uint64
}

type slots struct {
	s    []slot
	mask uint64
}

// shard is padded to two cache lines so that shards do not share them.
type shard struct {
	tab  atomic.Pointer[slots]
	used atomic.Int64 // slots with a key, live or not
	// started and completed count sessions; live ones are the difference.
	// A session's start is counted right after the CAS that installs it, so
	// a reader can see its completion before its start: readers load
	// completed first and then take started as at least completed (see
	// counts), which is never more than the sessions really started.
	started   atomic.Uint64
	completed [numReasons][numClasses]atomic.Uint64 // ReasonOverflow's stay 0: see overflowed
	// overflowed counts the overflow sessions (started and completed at
	// once). They are kept apart from started and completed so that they
	// never show as live, even to a reader that loads those two while
	// overflow sessions are counted.
	overflowed [numClasses]atomic.Uint64
	migrating  atomic.Bool
	_          [256 - 8*(3+int(numReasons)*int(numClasses)+int(numClasses)) - 4]byte
}

// overflowTotal returns the shard's overflow sessions.
func (sh *shard) overflowTotal() uint64 {
	var n uint64
	for c := range sh.overflowed {
		n += sh.overflowed[c].Load()
	}
	return n
}

// counts returns the shard's sessions started and completed, consistent
// with each other: started >= completed.
func (sh *shard) counts() (started, completed uint64) {
	for r := range sh.completed {
		for c := range sh.completed[r] {
			completed += sh.completed[r][c].Load()
		}
	}
	started = max(sh.started.Load(), completed)
	return started, completed
}

// liveCount returns the shard's live sessions (ended ones not yet swept
// included), never negative.
func (sh *shard) liveCount() int64 {
	started, completed := sh.counts()
	return int64(started - completed)
}

// Table holds the live sessions. Its methods are safe for concurrent use.
type Table struct {
	idle, max   int64 // ticks from the last request / the start at which a session is over
	base        time.Time
	wallBase    atomic.Int64 // where tick 0 starts on the wall clock, Unix nanoseconds, a multiple of Tick: days and hours come from it
	phase       atomic.Int64 // nanoseconds from base to the next tick boundary of the wall clock, in [0, Tick)
	shardShift  uint
	minSlots    int
	shards      []shard
	completions completions

	// places packs two counters: the places taken (heldMask bits: slots in
	// state 0, a key being installed, live sessions and tombstones, plus
	// the reservations in flight) and the reservations in flight (above,
	// in units of inFlight). maxHeld bounds the places (0: no bound). A
	// place is reserved (both +1, refused at maxHeld) before a key is
	// installed or a vacant slot starts a session; the reservation lands
	// (in flight -1) when it does, or is given back (both -1). A slot
	// turning vacant gives its place back. The word sits on cache lines of
	// its own: only session starts and ends write it, and the fields
	// above are read by every request.
	_       [128]byte
	places  atomic.Int64
	maxHeld int64
	_       [128 - 16]byte

	hourMu     sync.Mutex
	hours      map[int64]*HourStat // by Unix hour
	lastSample int64               // ticks of the previous Sweep, 0 before the first
	unmetered  bool                // set by Unmetered: sweeps sample nothing
	collected  uint64              // started total at the previous Collect

	// countAfter and countUntil bound the ends of the sessions Collect
	// returns, in Unix nanoseconds (see CountWithin).
	countAfter, countUntil atomic.Int64

	wheel *wheel // Config.DueWheel: the keys by the minute they may be due; nil without
}

// HourStat is the number of live sessions in one UTC hour, sampled by Sweep.
type HourStat struct {
	Hour          time.Time // UTC start of the hour
	Peak          uint64    // most live sessions seen at one sweep
	LiveMillis    uint64    // integral of live sessions over the sampled time, in session-milliseconds
	SampledMillis uint64    // sampled time in the hour, in milliseconds
}

// baseSlack lets callers pass times somewhat earlier than the time given to
// New (clocks of concurrent callers are never perfectly ordered).
const baseSlack = 24 * time.Hour

// New returns an empty table whose clock starts at now.
func New(cfg Config, now time.Time) (*Table, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	t := &Table{
		idle:       overTicks(cfg.IdleTimeout),
		max:        overTicks(cfg.MaxSession),
		base:       now.Add(-baseSlack),
		shardShift: uint(64 - bits.TrailingZeros(uint(cfg.Shards))),
		minSlots:   cfg.MinShardSlots,
		shards:     make([]shard, cfg.Shards),
		hours:      make(map[int64]*HourStat),
		maxHeld:    min(cfg.MaxLive, heldMask), // more is no bound: 2^40 places are 28 TiB
	}
	if cfg.DueWheel {
		t.wheel = newWheel(t.idle, t.max)
	}
	t.CountWithin(time.Time{}, time.Time{})
	t.setWall(t.base.UnixNano())
	if cfg.Shards == 1 {
		t.shardShift = 64
	}
	for i := range t.shards {
		t.shards[i].tab.Store(newSlots(t.minSlots))
	}
	t.completions.overflow = make(map[completionKey]uint64)
	return t, nil
}

func newSlots(n int) *slots {
	return &slots{s: make([]slot, n), mask: uint64(n - 1)}
}

// overTicks returns the smallest number of ticks between two times' ticks
// that proves the times at least d apart: ceil(d/Tick) + 1, since each time
// lies anywhere within its tick. Ending a session only then never splits
// one; a gap up to two ticks longer than d may still keep it.
func overTicks(d time.Duration) int64 {
	return int64((d+Tick-1)/Tick) + 1
}

// ticks returns the tick of now. Ticks are aligned on the wall clock (a tick
// never spans a UTC midnight or hour boundary), so the day of a tick is
// exact.
func (t *Table) ticks(now time.Time) int64 {
	d := now.Sub(t.base) + time.Duration(t.phase.Load())
	if d < 0 {
		return 0
	}
	tk := int64(d / Tick)
	if tk > lastMask {
		tk = lastMask
	}
	return tk
}

// day returns the UTC day (days since the Unix epoch) of a time in ticks.
func (t *Table) day(tk int64) int64 { return t.span(tk, 24*time.Hour) }

// hour returns the UTC hour (hours since the Unix epoch) of a time in ticks.
func (t *Table) hour(tk int64) int64 { return t.span(tk, time.Hour) }

// span returns the number of the span of length d, counted from the Unix
// epoch, that holds a time in ticks.
func (t *Table) span(tk int64, d time.Duration) int64 {
	ns := t.wallBase.Load() + tk*int64(Tick)
	n := ns / int64(d)
	if ns < 0 && ns%int64(d) != 0 {
		n--
	}
	return n
}

func (t *Table) shardOf(key uint64) *shard {
	if t.shardShift == 64 {
		return &t.shards[0]
	}
	return &t.shards[key>>t.shardShift]
}

func normalize(key uint64) uint64 {
	if key <= frozenKey {
		return 2
	}
	return key
}

// result of an attempt on one slot array.
type result uint8

const (
	resNone      result = iota // the request joined a live session, or (logout) found none
	resStarted                 // the request started a session / (logout) ended one
	resRestarted               // the request started a session over a tombstone or an ended one
	resRetry                   // the array is being migrated: retry on the new one
	resFull                    // (insert) the array needs to grow first
	resOverflow                // (insert) the request needs a place and MaxLive are taken
	resBusy                    // (insert) as resOverflow, but reservations in flight may yet be given back
)

// SetWall tells the table that now, on the clock its callers pass, is wall
// on the wall clock. Durations keep coming from the callers' clock (the
// monotonic one, in the agent); the UTC day and hour of what completes from
// then on follow the wall clock, including when it was stepped. Without a
// call, the two clocks are the same.
func (t *Table) SetWall(now, wall time.Time) {
	t.setWall(wall.UnixNano() - int64(now.Sub(t.base)))
}

// setWall sets base's time on the wall clock, in Unix nanoseconds, keeping
// ticks aligned on the wall clock.
func (t *Table) setWall(ns int64) {
	phase := ns % int64(Tick)
	if phase < 0 {
		phase += int64(Tick)
	}
	t.phase.Store(phase)
	t.wallBase.Store(ns - phase)
}

// Observe is ObserveClass without a classifier: the sessions it starts for
// new keys are ClassUnclassified.
func (t *Table) Observe(key uint64, now time.Time) bool {
	return t.ObserveClass(key, now, nil)
}

// ObserveClass records a request with key at now and reports whether it
// started a session. A request after its session's idle timeout or maximum
// duration completes that session and starts a new one, of the same class. A
// request that would start a session while the table holds Config.MaxLive
// places is counted as a completed one-request session (ReasonOverflow) and
// not kept; ObserveClass then reports true as well.
//
// classify gives the class of a session the request starts for a key that
// holds neither a session nor a recently ended one (a new key, one whose
// sessions ended over a minute ago, or an overflow). It is called at most
// once, and only then: a request of a live session never calls it. nil
// counts such sessions ClassUnclassified.
func (t *Table) ObserveClass(key uint64, now time.Time, classify func() Class) bool {
	key = normalize(key)
	sh := t.shardOf(key)
	tk := t.ticks(now)
	reserved, refused := false, false
	cl := classifier{fn: classify}
	for {
		tab := sh.tab.Load()
		switch r := t.observe(sh, tab, key, tk, &reserved, &cl); r {
		case resStarted, resRestarted:
			t.release(reserved)
			if t.wheel != nil && (r == resStarted || t.wheel.restartsFiled) {
				t.wheel.file(key, tk+min(t.idle, t.max))
			}
			return true
		case resNone:
			t.release(reserved)
			return false
		case resFull:
			t.migrate(sh, tab)
		case resRetry:
			t.awaitMigration(sh, tab)
		case resBusy:
			runtime.Gosched() // the reservations in flight land or are given back within their requests
		case resOverflow:
			// The first refusal may have raced with another request of the
			// same key taking a place. Looking again, after the refusal,
			// settles it: a key found then joins its session; a key still
			// absent was absent at the refusal, when every place was taken.
			if refused {
				t.overflow(sh, tk, cl.class())
				return true
			}
			refused = true
		}
	}
}

// classifier asks a request's classify function for its class once, when
// first needed.
type classifier struct {
	fn    func() Class
	got   Class
	asked bool
}

func (c *classifier) class() Class {
	if !c.asked {
		c.asked, c.got = true, ClassUnclassified
		if c.fn != nil {
			c.got = c.fn()
		}
	}
	return c.got
}

// The places word: places taken in its low 40 bits, reservations in flight
// above.
const (
	inFlight = 1 << 40
	heldMask = inFlight - 1
)

// reserve takes a place, unless maxHeld are taken; it then returns
// resOverflow, or resBusy if some of them are reservations in flight.
func (t *Table) reserve() result {
	for {
		w := t.places.Load()
		if t.maxHeld > 0 && w&heldMask >= t.maxHeld {
			if w >= inFlight {
				return resBusy
			}
			return resOverflow
		}
		if t.places.CompareAndSwap(w, w+inFlight+1) {
			return resStarted
		}
	}
}

// land tells that a reservation became a slot's place.
func (t *Table) land() { t.places.Add(-inFlight) }

// release gives back a place a request reserved and did not use.
func (t *Table) release(reserved bool) {
	if reserved {
		t.places.Add(-inFlight - 1)
	}
}

// vacate gives back the place of a slot that turned vacant.
func (t *Table) vacate() { t.places.Add(-1) }

// overflow counts a request that found no place as a session started and
// completed at tk.
func (t *Table) overflow(sh *shard, tk int64, class Class) {
	sh.overflowed[class].Add(1) // before the completion: Collect's Started covers its completions
	if t.counted(tk) {
		t.completions.add(ReasonOverflow, class, t.hour(tk))
	}
}

// observe looks key up in tab and applies a request at tk to it, installing
// the key if it is absent. reserved says whether the request holds a place
// it reserved; installing a key moves the place to the slot.
func (t *Table) observe(sh *shard, tab *slots, key uint64, tk int64, reserved *bool, cl *classifier) result {
	i := key & tab.mask
	for n := uint64(0); n <= tab.mask; n++ {
		s := &tab.s[i]
		k := s.key.Load()
		if k == emptyKey {
			if uint64(sh.used.Load()+1)*4 > (tab.mask+1)*3 {
				return resFull
			}
			if !*reserved {
				if r := t.reserve(); r != resStarted {
					return r
				}
				*reserved = true
			}
			if s.key.CompareAndSwap(emptyKey, key) {
				*reserved = false // the slot's state 0 holds the place until a session takes it
				t.land()
				sh.used.Add(1)
				return t.touch(sh, s, tk, reserved, cl)
			}
			k = s.key.Load()
		}
		switch k {
		case key:
			return t.touch(sh, s, tk, reserved, cl)
		case frozenKey:
			return resRetry
		}
		i = (i + 1) & tab.mask
	}
	return resFull
}

// touch applies a request at tk to the slot holding the request's key.
// Starting a session in a vacant slot takes a place: the one the request
// holds (*reserved), else a new one, else the request overflows.
func (t *Table) touch(sh *shard, s *slot, tk int64, reserved *bool, cl *classifier) result {
	for {
		st := s.state.Load()
		if st&frozenBit != 0 {
			return resRetry
		}
		if st&liveBit == 0 {
			switch {
			case st == vacant:
				if !*reserved {
					if r := t.reserve(); r != resStarted {
						return r
					}
					*reserved = true
				}
			case st != 0:
				if next, ok := t.absorbs(st, tk); ok {
					if next == st || s.state.CompareAndSwap(st, next) {
						return resNone // a late request of a session that already ended
					}
					continue
				}
			}
			class := classOf(st) // a tombstone's session's
			if st == 0 || st == vacant {
				class = cl.class()
			}
			if s.state.CompareAndSwap(st, packLive(tk, tk, class)) {
				sh.started.Add(1)
				if st == vacant {
					*reserved = false
					t.land()
				}
				if st == 0 || st == vacant {
					return resStarted
				}
				return resRestarted
			}
			continue
		}
		last, start := unpack(st)
		if reason, ended := t.ended(last, start, tk); ended {
			if s.state.CompareAndSwap(st, packLive(tk, tk, classOf(st))) {
				sh.started.Add(1) // before the completion: live never dips below the truth
				t.complete(sh, reason, classOf(st), last, t.end(last, start))
				return resRestarted
			}
			continue
		}
		if tk <= last {
			return resNone // already up to date (same tick, or a caller with an older clock)
		}
		if s.state.CompareAndSwap(st, packLive(tk, start, classOf(st))) {
			return resNone
		}
	}
}

// ended reports whether a session with the given last request and start is
// over at tk, and why: the reason is whichever end came first.
func (t *Table) ended(last, start, tk int64) (Reason, bool) {
	idleEnd, maxEnd := last+t.idle, start+t.max
	switch {
	case tk < idleEnd && tk < maxEnd:
		return 0, false
	case idleEnd <= maxEnd:
		return ReasonIdle, true
	default:
		return ReasonMax, true
	}
}

// Logout ends the live session of key at now, as an explicit logout counted
// on now's day, and reports whether there was one. A session already over by
// idle time or maximum duration is completed with that reason instead, and
// Logout reports false. A logout handled late ends what was live at now: not
// a session that started after now; and requests stamped after now that were
// handled before it keep a live session, counted as started, whose maximum
// duration counts from the last of them (the table keeps no earlier one). A
// session the sweeper completed before a late request kept it alive is ended
// without being counted again, and Logout reports false.
func (t *Table) Logout(key uint64, now time.Time) bool {
	key = normalize(key)
	sh := t.shardOf(key)
	tk := t.ticks(now)
	if w := t.wheel; w != nil {
		// A logout may make its slot due sooner. Its key is filed once the
		// slot holds what the logout left: a sweep that took a copy filed
		// before would file it again by the slot as it found it.
		defer w.file(key, tk)
		if w.logoutHook != nil {
			w.logoutHook()
		}
	}
	for {
		tab := sh.tab.Load()
		switch t.logout(sh, tab, key, tk) {
		case resStarted:
			return true
		case resRetry:
			t.awaitMigration(sh, tab)
		default:
			return false
		}
	}
}

func (t *Table) logout(sh *shard, tab *slots, key uint64, tk int64) result {
	i := key & tab.mask
	for n := uint64(0); n <= tab.mask; n++ {
		s := &tab.s[i]
		switch s.key.Load() {
		case emptyKey:
			return resNone
		case frozenKey:
			return resRetry
		case key:
			for {
				st := s.state.Load()
				if st&frozenBit != 0 {
					return resRetry
				}
				if st&liveBit == 0 {
					next, ok := t.logoutEnded(st, tk)
					if !ok {
						return resNone
					}
					if s.state.CompareAndSwap(st, next) {
						if next&liveBit != 0 {
							sh.started.Add(1)
						}
						return resNone
					}
					continue
				}
				last, start := unpack(st)
				if start > tk {
					return resNone // the session started after the logout
				}
				if reason, ended := t.ended(last, start, tk); ended {
					if s.state.CompareAndSwap(st, st&^liveBit) {
						t.complete(sh, reason, classOf(st), last, t.end(last, start))
						return resNone
					}
					continue
				}
				if last > tk {
					// Requests stamped after the logout were handled before
					// it: they started the next session.
					if s.state.CompareAndSwap(st, packLive(last, last, classOf(st))) {
						sh.started.Add(1) // before the completion: live never dips below the truth
						t.complete(sh, ReasonLogout, classOf(st), tk, tk)
						return resStarted
					}
					continue
				}
				if s.state.CompareAndSwap(st, packLogout(tk, classOf(st))) {
					t.complete(sh, ReasonLogout, classOf(st), tk, tk)
					return resStarted
				}
			}
		}
		i = (i + 1) & tab.mask
	}
	return resNone
}

// logoutEnded returns what a logout at tk leaves of the ended session of
// tombstone st that a request at tk would still join (completed at its end
// by the sweeper or a logout, and kept alive since by late requests), and
// false if the logout has nothing to end. The session was counted when it
// ended; the logout ends it for the requests after it: a logout tombstone,
// or, if requests stamped after the logout were already absorbed, a live
// session they started, counted now.
func (t *Table) logoutEnded(st uint64, tk int64) (uint64, bool) {
	if st == 0 || st>>lastBits&ageMask == logoutAge {
		return st, false
	}
	last, start := unpack(st)
	if _, ended := t.ended(last, start, tk); ended || start > tk {
		return st, false
	}
	if last > tk {
		return packLive(last, last, classOf(st)), true
	}
	return packLogout(tk, classOf(st)), true
}

// complete counts one session of class ended for reason, in the UTC hour
// (and so day) of lastTick; Collect returns it if its end, the tick endTick,
// is within the bounds of CountWithin.
func (t *Table) complete(sh *shard, reason Reason, class Class, lastTick, endTick int64) {
	sh.completed[reason][class].Add(1)
	if t.counted(endTick) {
		t.completions.add(reason, class, t.hour(lastTick))
	}
}

// CountWithin limits the completions Collect returns from now on to the
// sessions that end after after and not after until (a zero time is no
// bound): a session ends at its logout, or at the first tick at which its
// idle timeout or maximum is over (a request then starts another). The
// others still end, leave their tombstones and count in Stats. Log replay
// run in steps counts so each session in exactly one step: the one whose
// span holds its end.
func (t *Table) CountWithin(after, until time.Time) {
	a, u := int64(math.MinInt64), int64(math.MaxInt64)
	if !after.IsZero() {
		a = after.UnixNano()
	}
	if !until.IsZero() {
		u = until.UnixNano()
	}
	t.countAfter.Store(a)
	t.countUntil.Store(u)
}

// counted reports whether a session ending at tick end is within the
// bounds of CountWithin.
func (t *Table) counted(end int64) bool {
	ns := t.wallBase.Load() + end*int64(Tick)
	return ns > t.countAfter.Load() && ns <= t.countUntil.Load()
}

// end returns the tick at which the session with the given last request and
// start is over: its idle timeout or its maximum, whichever comes first.
func (t *Table) end(last, start int64) int64 { return min(last+t.idle, start+t.max) }

// Sweep completes every session that is over at now (idle or past its
// maximum), samples the number of live sessions for the hour statistics and
// compacts shards that have grown sparse. A session whose end falls on a
// later UTC day than its last request stays live (in Live and the samples)
// until that end is the reorder window in the past, when a late request can
// no longer move it to that day. Sweep returns the number of sessions it
// completed. It runs concurrently with requests.
func (t *Table) Sweep(now time.Time) int {
	tk := t.ticks(now)
	n := 0
	full := true
	if w := t.wheel; w != nil {
		w.mu.Lock()
		w.sweeps++
		full = w.fullEvery > 0 && w.sweeps%w.fullEvery == 0
		w.mu.Unlock()
	}
	if full {
		for i := range t.shards {
			n += t.sweepShard(&t.shards[i], tk, false)
		}
	}
	if t.wheel != nil {
		n += t.sweepDue(tk, full)
	}
	t.sample(now, tk)
	return n
}

// EndAll completes every live session at now: those already over by idle
// time or maximum duration with that reason, the others with ReasonShutdown.
// Requests that arrive during or after EndAll start new sessions.
func (t *Table) EndAll(now time.Time) int {
	tk := t.ticks(now)
	n := 0
	for i := range t.shards {
		n += t.sweepShard(&t.shards[i], tk, true)
	}
	return n
}

func (t *Table) sweepShard(sh *shard, tk int64, all bool) int {
	for {
		tab := sh.tab.Load()
		n, tombstones, frozen := t.sweepSlots(sh, tab, tk, all)
		if frozen {
			t.awaitMigration(sh, tab)
			if all {
				continue // the sessions copied over must end too
			}
			return n
		}
		size := int64(tab.mask + 1)
		used, live := sh.used.Load(), sh.liveCount()+int64(tombstones) // slots a migration keeps
		grow := used*16 >= size*11                                     // grow here rather than on a request
		compact := (used-live)*4 >= size                               // many ended slots lengthen probes
		shrink := size > int64(t.minSlots) && live*8 < size            // give memory back
		if grow || compact || shrink {
			t.migrate(sh, tab)
		}
		return n
	}
}

// sweepSlots ends the sessions of tab that are over at tk (all of them if
// all), clears the tombstones whose reorder window has passed and counts
// those that remain.
func (t *Table) sweepSlots(sh *shard, tab *slots, tk int64, all bool) (n, tombstones int, frozen bool) {
	for i := range tab.s {
		s := &tab.s[i]
		switch s.key.Load() {
		case emptyKey:
			continue
		case frozenKey:
			return n, tombstones, true
		}
		completed, tombstone, frozen := t.sweepSlot(sh, s, tk, all)
		if frozen {
			return n, tombstones, true
		}
		if completed {
			n++
		}
		if tombstone {
			tombstones++
		}
	}
	return n, tombstones, false
}

// sweepSlot ends the session of slot s if it is over at tk (whatever it is
// if all), or clears its tombstone if the reorder window has passed. It
// reports whether it completed a session, whether the slot holds a
// tombstone after it, and whether the slot is frozen by a migration (then
// it did nothing).
func (t *Table) sweepSlot(sh *shard, s *slot, tk int64, all bool) (completed, tombstone, frozen bool) {
	window := int64(reorderWindow / Tick)
	for {
		st := s.state.Load()
		if st&frozenBit != 0 {
			return false, false, true
		}
		if st == 0 || st == vacant {
			return false, false, false
		}
		if st&liveBit == 0 {
			if !all && tk < t.tombstoneEnd(st)+window {
				return false, true, false
			}
			if s.state.CompareAndSwap(st, vacant) {
				t.vacate()
				return false, false, false
			}
			continue
		}
		last, start := unpack(st)
		reason, ended := t.ended(last, start, tk)
		next := st &^ liveBit // a tombstone for late requests
		if !ended {
			if !all {
				return false, false, false
			}
			reason = ReasonShutdown
		}
		if !all && t.dayOpen(last, start, tk) {
			return false, false, false // a late request may still move it to a later day
		}
		if all {
			next = vacant // requests after EndAll start new sessions
		}
		end := t.end(last, start)
		if !ended {
			end = tk // ended by EndAll
		}
		if s.state.CompareAndSwap(st, next) {
			t.complete(sh, reason, classOf(st), last, end)
			if next == vacant {
				t.vacate()
			}
			return true, next != vacant, false
		}
	}
}

// migrate moves the places of sh (live sessions, tombstones and keys being
// installed) from tab to a new array sized for them, dropping empty and
// vacant slots. Only one goroutine migrates a shard at a time; others wait
// for it.
func (t *Table) migrate(sh *shard, tab *slots) {
	if !sh.migrating.CompareAndSwap(false, true) {
		t.awaitMigration(sh, tab)
		return
	}
	defer sh.migrating.Store(false)
	if sh.tab.Load() != tab {
		return
	}
	live := 0 // places: the slots kept
	for i := range tab.s {
		s := &tab.s[i]
		if s.key.CompareAndSwap(emptyKey, frozenKey) {
			continue
		}
		for {
			st := s.state.Load()
			if s.state.CompareAndSwap(st, st|frozenBit) {
				if st != vacant {
					live++
				}
				break
			}
		}
	}
	size := t.minSlots
	for live*8 >= size*5 { // leave the new array at most 5/8 full
		size *= 2
	}
	next := newSlots(size)
	for i := range tab.s {
		s := &tab.s[i]
		st := s.state.Load() &^ frozenBit
		k := s.key.Load()
		if k == frozenKey || st == vacant {
			continue
		}
		j := k & next.mask
		for next.s[j].key.Load() != emptyKey {
			j = (j + 1) & next.mask
		}
		next.s[j].key.Store(k)
		next.s[j].state.Store(st)
	}
	sh.used.Store(int64(live))
	sh.tab.Store(next)
}

// awaitMigration waits until sh no longer uses tab, or no goroutine holds
// sh's migration flag: the holder may be migrating an array already replaced,
// or releasing the flag, and then tab is not replaced until someone else
// migrates it. The caller retries on the current array, and migrates it
// itself if it still must. A migration publishes its new array before it
// releases the flag, so a waiter that met a frozen slot always finds the new
// array.
func (t *Table) awaitMigration(sh *shard, tab *slots) {
	for sh.tab.Load() == tab && sh.migrating.Load() {
		runtime.Gosched()
	}
}

// Unmetered tells whether the time from the next Sweep on is metered: while
// it is not, sweeps still end sessions but add nothing to the hour
// statistics (no sampled time, no live time, no peak), and the first sweep
// after it is metered again samples only from its predecessor on. Log
// replay marks a hole in the logs so, for the agent was not metering there
// either; the agent never calls it.
func (t *Table) Unmetered(unmetered bool) {
	t.hourMu.Lock()
	t.unmetered = unmetered
	t.hourMu.Unlock()
}

// sample records the live count at now into the hour statistics. The time
// since the previous sample is split at hour boundaries, so that an hour's
// samples never cover more than that hour; the peak goes to now's hour.
func (t *Table) sample(now time.Time, tk int64) {
	live := uint64(max(t.Live(), 0)) // Live is never negative; a wrapped sample would be a peak of 2^64-1 for good
	t.hourMu.Lock()
	defer t.hourMu.Unlock()
	if t.unmetered {
		t.lastSample = tk
		return
	}
	from := tk
	if t.lastSample != 0 && tk > t.lastSample {
		from = t.lastSample
	}
	t.lastSample = tk
	wall := t.wallBase.Load() // a multiple of Tick: hour boundaries fall on tick boundaries
	hourOf := func(tk int64) int64 { return (wall + tk*int64(Tick)) / int64(time.Hour) }
	for from < tk {
		hour := hourOf(from)
		next := min(tk, ((hour+1)*int64(time.Hour)-wall)/int64(Tick)) // the tick the next hour starts at
		ms := uint64(next-from) * uint64(Tick/time.Millisecond)
		h := t.hourStat(hour)
		h.LiveMillis += live * ms
		h.SampledMillis += ms
		from = next
	}
	h := t.hourStat(hourOf(tk))
	h.Peak = max(h.Peak, live)
}

// hourStat returns the statistics of a Unix hour, created empty if needed.
// The caller holds hourMu.
func (t *Table) hourStat(hour int64) *HourStat {
	h := t.hours[hour]
	if h == nil {
		h = &HourStat{Hour: time.Unix(hour*3600, 0).UTC()}
		t.hours[hour] = h
	}
	return h
}

// Live returns the number of live sessions (ended sessions not yet swept
// included). It is never negative.
func (t *Table) Live() int64 {
	var n int64
	for i := range t.shards {
		n += t.shards[i].liveCount()
	}
	return n
}

// Held returns the places the table holds: live sessions (ended ones not yet
// swept included), tombstones of sessions ended within about a minute, and
// keys being installed. It never exceeds Config.MaxLive when that is set.
func (t *Table) Held() int64 { return t.places.Load() & heldMask }

// MaxLive returns the table's Config.MaxLive (0: no bound).
func (t *Table) MaxLive() int64 { return t.maxHeld }

// Stats are the table's running totals since New.
type Stats struct {
	Live      int64
	Started   uint64
	Completed [numReasons]uint64
	// ByClass splits Completed by class.
	ByClass [numReasons][numClasses]uint64
}

// Stats returns the table's running totals. They are read shard by shard,
// not as one snapshot, but always consistent: Started = Live + the sum of
// Completed, and each total only grows (Live aside) from one call to the next.
func (t *Table) Stats() Stats {
	var s Stats
	for i := range t.shards {
		sh := &t.shards[i]
		var completed uint64
		for r := range s.Completed {
			for c := range s.ByClass[r] {
				n := sh.completed[r][c].Load()
				s.Completed[r] += n
				s.ByClass[r][c] += n
				completed += n
			}
		}
		started := max(sh.started.Load(), completed)
		s.Started += started
		s.Live += int64(started - completed)
		for c := range sh.overflowed {
			n := sh.overflowed[c].Load()
			s.Started += n
			s.Completed[ReasonOverflow] += n
			s.ByClass[ReasonOverflow][c] += n
		}
	}
	return s
}

// Completion is a number of sessions of one class completed in one UTC hour
// for one reason.
type Completion struct {
	Day      time.Time // UTC midnight of Hour's day
	Hour     time.Time // UTC start of the hour of the sessions' last request
	Reason   Reason
	Class    Class
	Sessions uint64
}

// Parts returns the sessions of c that are bots and those unclassified, as
// the store counts them (the rest are people's).
func (c Completion) Parts() (bots, unclassified uint64) {
	switch c.Class {
	case ClassBot:
		return c.Sessions, 0
	case ClassUnclassified:
		return 0, c.Sessions
	}
	return 0, 0
}

// Delta is what the table recorded since the previous Collect.
type Delta struct {
	Completions []Completion
	Hours       []HourStat
	// Started is the number of sessions started since the previous Collect.
	// It is read after the completions, so every session completed in this
	// Delta was started in it or an earlier one.
	Started uint64
}

// Collect returns and forgets the completions and hour statistics recorded
// since the previous Collect. Call it from one goroutine.
func (t *Table) Collect() Delta {
	var d Delta
	for key, n := range t.completions.drain() {
		hour := time.Unix(key.hour*3600, 0).UTC()
		d.Completions = append(d.Completions, Completion{
			Day:      hour.Truncate(24 * time.Hour),
			Hour:     hour,
			Reason:   key.reason,
			Class:    key.class,
			Sessions: n,
		})
	}
	var started uint64
	for i := range t.shards {
		n, _ := t.shards[i].counts()
		started += n + t.shards[i].overflowTotal()
	}
	d.Started = started - t.collected
	t.collected = started

	t.hourMu.Lock()
	for k, h := range t.hours {
		d.Hours = append(d.Hours, *h)
		delete(t.hours, k)
	}
	t.hourMu.Unlock()
	return d
}
