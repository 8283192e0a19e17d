package agent

import (
	"sync/atomic"
	"time"

	"headcount/store"
)

// ContactWindow is how long one contact from HAProxy (a hello, health check
// or notify) vouches that metering is on: coverage is what tells a day without traffic
// from a day nobody metered.
const ContactWindow = time.Minute

// Coverage turns HAProxy's contacts into coverage intervals: the wall-clock
// time in which the agent was running and HAProxy had reached it within the
// last ContactWindow. The window is measured on the monotonic clock; the
// intervals are stamped with the wall clock. When the wall clock is stepped,
// the open interval ends and a new one starts on the new wall time, never
// earlier than the last interval's end: a wall-clock period is never covered
// twice, and intervals stay ordered and disjoint. Contact is safe for
// concurrent use and cheap enough for every frame; Advance is called by one
// goroutine.
type Coverage struct {
	last atomic.Int64 // mono seconds of the latest contact, 0 before the first

	open     bool
	start    int64 // wall seconds
	seenLast int64 // mono seconds: the latest contact seen by the previous Advance
	offset   int64 // wall minus mono at the previous Advance, seconds
	end      int64 // wall seconds: the end last returned, 0 before the first
}

// stepTolerance is how far wall minus mono may drift between two Advances
// before it counts as a step of the wall clock (readings are truncated to
// seconds, so 1 s of jitter is normal).
const stepTolerance = 2

// Contact records that HAProxy reached the agent at mono.
func (c *Coverage) Contact(mono time.Time) {
	sec := mono.Unix()
	if c.last.Load() < sec { // a store at most once a second: the line stays shared
		c.last.Store(sec)
	}
}

// LastContact returns the latest contact on the wall clock, given the time
// now on both clocks, or the zero time before the first contact.
func (c *Coverage) LastContact(mono, wall time.Time) time.Time {
	l := c.last.Load()
	if l == 0 {
		return time.Time{}
	}
	return wall.Add(-time.Duration(mono.Unix()-l) * time.Second).Truncate(time.Second).UTC()
}

// Contacted reports whether HAProxy reached the agent within ContactWindow
// before mono.
func (c *Coverage) Contacted(mono time.Time) bool {
	l := c.last.Load()
	return l != 0 && mono.Unix()-l <= int64(ContactWindow/time.Second)
}

// Advance returns the coverage interval in progress at (mono, wall), or the
// one that just closed, and false when HAProxy has not reached the agent
// yet. An interval whose Start was returned before is the same interval,
// extended. Calls must be less than ContactWindow apart, so that no gap in
// contacts longer than the window falls between two calls unseen.
func (c *Coverage) Advance(mono, wall time.Time) (store.Interval, bool) {
	l := c.last.Load()
	if l == 0 {
		return store.Interval{}, false
	}
	window := int64(ContactWindow / time.Second)
	offset := wall.Unix() - mono.Unix()
	if c.open && (offset-c.offset > stepTolerance || c.offset-offset > stepTolerance) {
		c.open = false // the wall clock was stepped: a new interval on the new time
	}
	c.offset = offset
	if !c.open || l-c.seenLast > window {
		c.open, c.start = true, max(l+offset, c.end)
	}
	c.seenLast = l
	end := max(min(l+window, mono.Unix())+offset, c.start)
	c.end = end
	return store.Interval{Start: time.Unix(c.start, 0).UTC(), End: time.Unix(end, 0).UTC()}, true
}
