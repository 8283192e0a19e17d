package session

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// byClass sums a Delta's completions by "YYYY-MM-DDTHH reason class".
func byClass(d Delta) string {
	m := map[string]uint64{}
	for _, c := range d.Completions {
		if !c.Day.Equal(c.Hour.Truncate(24 * time.Hour)) {
			return fmt.Sprintf("completion day %s is not its hour's %s", c.Day, c.Hour)
		}
		m[fmt.Sprintf("%s %s %s", c.Hour.Format("2006-01-02T15"), c.Reason, c.Class)] += c.Sessions
	}
	var lines []string
	for k, n := range m {
		lines = append(lines, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(lines)
	return strings.Join(lines, " ")
}

// countingClassifier returns a classify function answering class and a
// pointer to the number of times it was asked.
func countingClassifier(class Class) (func() Class, *int) {
	n := new(int)
	return func() Class { *n++; return class }, n
}

func TestTable_ClassDecidedOnceAtTheKeysFirstStart(t *testing.T) {
	tab := MustNew(t, Config{}, t0)
	bot, asked := countingClassifier(ClassBot)
	human, askedHuman := countingClassifier(ClassHuman)
	const k1, k2 = 11, 22
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	// k1: a bot session of three requests, idle, then a second session of
	// the same key started by a request after the idle timeout.
	for _, d := range []time.Duration{0, time.Minute, 2 * time.Minute} {
		tab.ObserveClass(k1, at(d), bot)
	}
	if !tab.ObserveClass(k1, at(40*time.Minute), bot) {
		t.Fatal("a request after the idle timeout did not start a session")
	}
	// k2: a human session ended by a logout, then restarted at once.
	tab.ObserveClass(k2, at(time.Minute), human)
	tab.Logout(k2, at(10*time.Minute))
	tab.ObserveClass(k2, at(10*time.Minute), human)

	if *asked != 1 || *askedHuman != 1 {
		t.Errorf("classify asked %d and %d times, want once per key (later sessions inherit the class)", *asked, *askedHuman)
	}
	tab.EndAll(at(50 * time.Minute))
	got := byClass(tab.Collect())
	// k2's second session was idle from 40 minutes: EndAll completes it as such.
	want := "2026-03-14T22 idle bot=1 2026-03-14T22 idle human=1 2026-03-14T22 logout human=1 2026-03-14T22 shutdown bot=1"
	if got != want {
		t.Errorf("completions\n got %s\nwant %s", got, want)
	}
	s := tab.Stats()
	if s.ByClass[ReasonIdle][ClassBot] != 1 || s.ByClass[ReasonShutdown][ClassBot] != 1 ||
		s.ByClass[ReasonLogout][ClassHuman] != 1 || s.ByClass[ReasonIdle][ClassHuman] != 1 ||
		s.Completed[ReasonIdle] != 2 {
		t.Errorf("stats by class %+v", s.ByClass)
	}
}

// The hour a completion is counted in is that of the session's last
// request, as its day is.
func TestTable_CompletionsPerHour(t *testing.T) {
	tab := MustNew(t, Config{}, t0)
	human := func() Class { return ClassHuman }
	tab.ObserveClass(10, t0.Add(50*time.Minute), human)  // 22:50, idle end 23:20
	tab.ObserveClass(20, t0.Add(70*time.Minute), human)  // 23:10
	tab.ObserveClass(20, t0.Add(125*time.Minute), human) // 00:05 next day: ends the 23:10 session, starts one
	tab.ObserveClass(30, t0.Add(119*time.Minute), nil)   // 23:59, no classifier
	tab.Sweep(t0.Add(3 * time.Hour))                     // 01:00: all over
	got := byClass(tab.Collect())
	want := "2026-03-14T22 idle human=1 2026-03-14T23 idle human=1 2026-03-14T23 idle unclassified=1 2026-03-15T00 idle human=1"
	if got != want {
		t.Errorf("completions\n got %s\nwant %s", got, want)
	}
}

func TestTable_OverflowSessionsAreClassified(t *testing.T) {
	tab := MustNew(t, Config{MaxLive: 1}, t0)
	bot, asked := countingClassifier(ClassBot)
	human := func() Class { return ClassHuman }
	tab.ObserveClass(10, t0, human)
	for k := uint64(20); k < 23; k++ {
		if !tab.ObserveClass(k, t0, bot) {
			t.Fatalf("overflow request %d not reported as a start", k)
		}
	}
	if *asked != 3 {
		t.Errorf("classify asked %d times for 3 overflow requests, want 3", *asked)
	}
	tab.EndAll(t0.Add(time.Minute))
	got := byClass(tab.Collect())
	if want := "2026-03-14T22 overflow bot=3 2026-03-14T22 shutdown human=1"; got != want {
		t.Errorf("completions\n got %s\nwant %s", got, want)
	}
	if s := tab.Stats(); s.ByClass[ReasonOverflow][ClassBot] != 3 || s.Started != 4 {
		t.Errorf("stats %+v", s)
	}
}

// A request of a live session never asks the classifier, and neither kind
// of request allocates: the classify closure stays on the caller's stack.
func TestTable_ObserveClassAllocatesNothing(t *testing.T) {
	tab := MustNew(t, Config{}, t0)
	ua := []byte("Mozilla/5.0")
	asked := 0
	classify := func() Class {
		asked++
		if len(ua) > 100 {
			return ClassBot
		}
		return ClassHuman
	}
	tab.ObserveClass(7, t0, classify)
	now := t0
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		tab.ObserveClass(7, now, classify)
	}); n != 0 {
		t.Errorf("a request of a live session allocates %v times", n)
	}
	if asked != 1 {
		t.Errorf("classify asked %d times, want once", asked)
	}
	key := uint64(1000)
	if n := testing.AllocsPerRun(1000, func() {
		key++
		tab.ObserveClass(key, now, func() Class {
			if len(ua) > 100 {
				return ClassBot
			}
			return ClassHuman
		})
	}); n != 0 {
		t.Errorf("a session start allocates %v times", n)
	}
}

// The class survives the tombstone and a migration: a late request after the
// sweeper ended a session, and a table grown in between, keep its class.
func TestTable_ClassSurvivesTombstonesAndMigrations(t *testing.T) {
	tab := MustNew(t, Config{Shards: 1, MinShardSlots: 4}, t0)
	bot, asked := countingClassifier(ClassBot)
	tab.ObserveClass(10, t0, bot)
	tab.Sweep(t0.Add(31 * time.Minute)) // idle: ended, tombstone kept for late requests
	human := func() Class { return ClassHuman }
	for k := uint64(100); k < 200; k++ { // grow the shard: migrations copy the tombstone
		tab.ObserveClass(k, t0.Add(31*time.Minute), human)
	}
	if !tab.ObserveClass(10, t0.Add(32*time.Minute), bot) {
		t.Fatal("a request after the idle timeout did not start a session")
	}
	if *asked != 1 {
		t.Errorf("classify asked %d times, want once (the tombstone holds the class)", *asked)
	}
	tab.EndAll(t0.Add(33 * time.Minute))
	d := tab.Collect()
	var bots uint64
	for _, c := range d.Completions {
		if c.Class == ClassBot {
			bots += c.Sessions
		}
	}
	if bots != 2 {
		t.Errorf("bot sessions %d, want 2: %s", bots, byClass(d))
	}
}

func TestCompletion_Parts(t *testing.T) {
	for class, want := range map[Class][2]uint64{ClassHuman: {0, 0}, ClassBot: {7, 0}, ClassUnclassified: {0, 7}} {
		if bots, unclassified := (Completion{Class: class, Sessions: 7}).Parts(); bots != want[0] || unclassified != want[1] {
			t.Errorf("%s: Parts() = %d, %d; want %d, %d", class, bots, unclassified, want[0], want[1])
		}
	}
}
