package botclass

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

const (
	chrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	iphone    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func TestClassify_ByTheCrawlerList(t *testing.T) {
	c := New(Config{})
	for ua, want := range map[string]Class{
		chrome: Human, iphone: Human, "": Human, "-": Human,
		googlebot: Bot, "curl/8.5.0": Bot, "python-requests/2.31": Bot, "kube-probe/1.27": Bot,
		"Go-http-client/1.1": Bot,
	} {
		for round := range 2 { // the second answer comes from the cache
			if got := c.Classify([]byte(ua), t0); got != want {
				t.Errorf("round %d: Classify(%q) = %v, want %v", round, ua, got, want)
			}
		}
	}
	if s := c.Stats(); s.Matched != 9 || s.Cached != 9 || s.Unknown != 0 {
		t.Errorf("stats %+v, want 9 matched, 9 cached, 0 unknown", s)
	}
}

func TestClassify_CacheHitAllocatesNothing(t *testing.T) {
	c := New(Config{})
	ua := []byte(chrome)
	c.Classify(ua, t0)
	if n := testing.AllocsPerRun(100, func() { c.Classify(ua, t0) }); n != 0 {
		t.Errorf("a cached answer allocates %v times", n)
	}
}

func TestClassify_BoundsTheMatchesPerSecond(t *testing.T) {
	c := New(Config{MatchesPerSecond: 3})
	var got []Class
	for i := range 5 {
		got = append(got, c.Classify(fmt.Appendf(nil, "agent-%d", i), t0.Add(time.Duration(i)*100*time.Millisecond)))
	}
	if want := []Class{Human, Human, Human, Unknown, Unknown}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("classes within one second %v, want %v", got, want)
	}
	// A cached answer needs no match: it is given over the bound too.
	if got := c.Classify([]byte("agent-0"), t0.Add(900*time.Millisecond)); got != Human {
		t.Errorf("cached agent over the bound: %v, want Human", got)
	}
	// The next second has its own matches.
	if got := c.Classify([]byte("agent-4"), t0.Add(time.Second)); got != Human {
		t.Errorf("next second: %v, want Human", got)
	}
	if s := c.Stats(); s.Matched != 4 || s.Unknown != 2 || s.Cached != 1 {
		t.Errorf("stats %+v, want 4 matched, 2 unknown, 1 cached", s)
	}
}

// An entry a colliding User-Agent took over is matched again, never answered
// with the other's class.
func TestClassify_CollisionsAreMatchedAgain(t *testing.T) {
	c := New(Config{CacheEntries: 1}) // one entry (rounded up to two): every agent collides with many
	uas := []string{chrome, googlebot, iphone, "curl/8.5.0"}
	want := []Class{Human, Bot, Human, Bot}
	for round := range 3 {
		for i, ua := range uas {
			if got := c.Classify([]byte(ua), t0); got != want[i] {
				t.Errorf("round %d: Classify(%q) = %v, want %v", round, ua, got, want[i])
			}
		}
	}
}

// User-Agents whose hashes fall in one cache set keep their answers side by
// side: 1,000 User-Agents in the default cache, asked in turn five times, are
// matched once each. With one entry a set, about 8 pairs of them collided and
// every alternation was matched again (on a replayed day of 300 User-Agents,
// a thousand matches where 300 were needed, 0.8 s of 2.4).
func TestClassify_CollidingHashesShareASet(t *testing.T) {
	c := New(Config{MatchesPerSecond: 1 << 30})
	uas := make([][]byte, 1000)
	for i := range uas {
		uas[i] = fmt.Appendf(nil, "Mozilla/5.0 (X11; Linux x86_64) client%d", i)
	}
	for range 5 {
		for _, ua := range uas {
			if got := c.Classify(ua, t0); got != Human {
				t.Fatalf("Classify(%q) = %v, want Human", ua, got)
			}
		}
	}
	if s := c.Stats(); s.Matched != 1000 || s.Cached != 4000 {
		t.Errorf("stats %+v, want 1000 matched and 4000 cached", s)
	}
	// A full set gives an entry up in turn: five agents in one set of four
	// are each answered right, and four of them are cached at any time.
	c = New(Config{CacheEntries: 4})
	uas = [][]byte{[]byte(chrome), []byte(googlebot), []byte(iphone), []byte("curl/8.5.0"), []byte("Wget/1.21")}
	want := []Class{Human, Bot, Human, Bot, Bot}
	for round := range 3 {
		for i, ua := range uas {
			if got := c.Classify(ua, t0); got != want[i] {
				t.Errorf("round %d: Classify(%q) = %v, want %v", round, ua, got, want[i])
			}
		}
	}
	if s := c.Stats(); s.Matched+s.Cached != 15 || s.Matched < 5 || s.Cached == 0 {
		t.Errorf("stats %+v, want 15 answers, at least 5 matched and some cached", s)
	}
}

func TestClassify_Concurrent(t *testing.T) {
	c := New(Config{CacheEntries: 64})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ua, want := chrome, Human
				if (i+g)%3 == 0 {
					ua, want = googlebot, Bot
				}
				if got := c.Classify([]byte(ua), t0); got != want {
					t.Errorf("Classify(%q) = %v, want %v", ua, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkClassify gives the cost of a session start's classification:
// answered by the cache, and matched against the crawler list (a cache miss:
// each iteration a new User-Agent).
func BenchmarkClassify(b *testing.B) {
	b.Run("cached", func(b *testing.B) {
		c := New(Config{})
		ua := []byte(chrome)
		c.Classify(ua, t0)
		b.ReportAllocs()
		for b.Loop() {
			c.Classify(ua, t0)
		}
	})
	b.Run("matched", func(b *testing.B) {
		c := New(Config{CacheEntries: 2, MatchesPerSecond: 1 << 30})
		uas := make([][]byte, 1024)
		for i := range uas {
			uas[i] = fmt.Appendf(nil, "%s r%d", chrome, i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			for i := range c.cache {
				c.cache[i].Store(0) // keep every lookup a miss
			}
			c.Classify(uas[i%len(uas)], t0)
			i++
		}
	})
}

// Callers' clocks are not read in order: a frame read just before a second
// began may be handled after one read just after it. Such late readings
// count against the current second's matches; they never start the second
// they fall in afresh, which would let interleaved readings around a
// boundary run as many matches as they like.
func TestClassify_BoundHoldsForLateClockReadings(t *testing.T) {
	c := New(Config{MatchesPerSecond: 2})
	before, after := t0.Add(-time.Millisecond), t0
	matched := 0
	for i := range 20 {
		now := before
		if i%2 == 1 {
			now = after
		}
		if c.Classify(fmt.Appendf(nil, "agent-%d", i), now) != Unknown {
			matched++
		}
	}
	// At most the matches of the two seconds the readings fall in.
	if matched > 4 {
		t.Errorf("%d of 20 User-Agents matched with readings of two seconds interleaved; want at most 4 (2 a second)", matched)
	}
}

// A wall clock stepped back starts its second's own count, as a later
// second does: the matches are not refused until the clock catches up.
func TestClassify_ClockSteppedBack(t *testing.T) {
	c := New(Config{MatchesPerSecond: 1})
	if got := c.Classify([]byte("agent-0"), t0); got != Human {
		t.Fatalf("first match: %v, want Human", got)
	}
	if got := c.Classify([]byte("agent-1"), t0.Add(-time.Hour)); got != Human {
		t.Errorf("an hour back: %v, want Human (a second of its own)", got)
	}
}
