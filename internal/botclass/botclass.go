// Package botclass tells crawlers and monitors from people by their
// User-Agent, with the maintained crawler list of
// github.com/x-way/crawlerdetect (a port of JayBizzle's Crawler-Detect).
//
// The list is one large regular expression: a match costs about 100 µs, far
// more than a request's whole handling. A Classifier therefore remembers the
// answers in a fixed-size cache keyed by a hash of the User-Agent (the hash
// only: no User-Agent is kept), and bounds the matches it runs per second, so
// that a flood of new User-Agents cannot make classification the agent's
// bottleneck: a start beyond the bound is Unknown, counted apart and never
// guessed. Lookups that hit the cache allocate nothing and take no lock.
package botclass

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/x-way/crawlerdetect"
)

// Class is what Classify says of a User-Agent.
type Class uint8

const (
	// Human: the crawler list does not match the User-Agent.
	Human Class = iota + 1
	// Bot: the crawler list matches the User-Agent.
	Bot
	// Unknown: not classified, because the matches of the current second
	// were used up.
	Unknown
)

// String returns "human", "bot" or "unknown".
func (c Class) String() string {
	switch c {
	case Human:
		return "human"
	case Bot:
		return "bot"
	case Unknown:
		return "unknown"
	}
	return "class(?)"
}

// Config sizes a Classifier.
type Config struct {
	// CacheEntries is the number of User-Agents whose class is remembered,
	// rounded up to a power of two of at least 4; 8 bytes each. Default
	// 65536.
	CacheEntries int
	// MatchesPerSecond bounds the crawler-list matches (cache misses) run
	// in any one second; beyond it Classify answers Unknown. Default 2000,
	// at most about a fifth of one core.
	MatchesPerSecond int
}

// Default sizes.
const (
	DefaultCacheEntries     = 1 << 16
	DefaultMatchesPerSecond = 2000
)

// Classifier classifies User-Agents. Its methods are safe for concurrent use.
type Classifier struct {
	detect *crawlerdetect.CrawlerDetect
	seed   maphash.Seed
	// cache holds, per entry, the hash of a User-Agent with its two low
	// bits replaced by its Class; 0 is an empty entry. Entries form sets of
	// setWays (a User-Agent's set: its hash's top bits), so that User-Agents
	// whose hashes share those bits do not take each other's place (with one
	// entry per set, two busy colliding User-Agents alternating were matched
	// again at every session start).
	cache []atomic.Uint64
	shift uint // set = hash >> shift

	mu         sync.Mutex
	perSecond  int
	second     int64 // the Unix second the budget counts
	matchesNow int   // matches run in that second

	hits, matches, unknown atomic.Uint64
}

// New returns a Classifier with the crawler list built into
// github.com/x-way/crawlerdetect.
func New(cfg Config) *Classifier {
	if cfg.CacheEntries <= 0 {
		cfg.CacheEntries = DefaultCacheEntries
	}
	if cfg.MatchesPerSecond <= 0 {
		cfg.MatchesPerSecond = DefaultMatchesPerSecond
	}
	bits := uint(setBits)
	for 1<<bits < cfg.CacheEntries {
		bits++
	}
	return &Classifier{
		detect:    crawlerdetect.New(),
		seed:      maphash.MakeSeed(),
		cache:     make([]atomic.Uint64, 1<<bits),
		shift:     64 - (bits - setBits),
		perSecond: cfg.MatchesPerSecond,
	}
}

// Classify returns the class of a User-Agent. now is any clock's reading;
// only the second it falls in matters, for the bound on matches.
func (c *Classifier) Classify(ua []byte, now time.Time) Class {
	h := maphash.Bytes(c.seed, ua)
	tag := h &^ 3
	if tag == 0 {
		tag = 4 // 0 marks an empty entry
	}
	set := c.cache[h>>c.shift<<setBits:][:setWays]
	for i := range set {
		if w := set[i].Load(); w&^3 == tag && w&3 != 0 {
			c.hits.Add(1)
			return Class(w & 3)
		}
	}
	if !c.take(now.Unix()) {
		c.unknown.Add(1)
		return Unknown
	}
	n := c.matches.Add(1)
	class := Human
	if c.detect.IsCrawler(string(ua)) {
		class = Bot
	}
	// An empty entry of the set, else one in turn (the matches so far
	// choose it), takes the answer.
	way := int(n % setWays)
	for i := range set {
		if set[i].Load() == 0 {
			way = i
			break
		}
	}
	set[way].Store(tag | uint64(class))
	return class
}

// A cache set holds setWays = 1<<setBits entries, 32 bytes: within one
// cache line of the array.
const (
	setBits = 2
	setWays = 1 << setBits
)

// take reports whether a match may run in the second sec, and counts it. A
// reading of the second before the latest seen (callers' clocks are read on
// several connections, not in order) counts against the latest second; a
// later second, or one further back (a wall clock stepped back), starts its
// own count.
func (c *Classifier) take(sec int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sec > c.second || sec < c.second-1 {
		c.second, c.matchesNow = sec, 0
	}
	if c.matchesNow >= c.perSecond {
		return false
	}
	c.matchesNow++
	return true
}

// Stats are a Classifier's running totals.
type Stats struct {
	// Cached counts the answers the cache gave, Matched those the crawler
	// list gave, Unknown the answers given without either, over the bound.
	Cached, Matched, Unknown uint64
}

// Stats returns the running totals.
func (c *Classifier) Stats() Stats {
	return Stats{Cached: c.hits.Load(), Matched: c.matches.Load(), Unknown: c.unknown.Load()}
}
