package agent

import (
	"sync/atomic"
	"time"

	"headcount/store"
)

// ContactWindow is how long one contact from HAProxy (a hello, health check
// or notify) vouches that metering is on (SPEC §3).
const ContactWindow = time.Minute

// Coverage turns HAProxy's contacts into coverage intervals: the wall-clock
// time in which the agent was running and HAProxy had reached it within the
// last ContactWindow. Contact is safe for concurrent use and cheap enough
// for every frame; Advance is called by one goroutine.
type Coverage struct {
	last atomic.Int64 // Unix seconds of the latest contact, 0 before the first

	open     bool
	start    int64 // Unix seconds
	seenLast int64 // latest contact seen by the previous Advance
}

// Contact records that HAProxy reached the agent at now.
func (c *Coverage) Contact(now time.Time) {
	sec := now.Unix()
	if c.last.Load() < sec { // a store at most once a second: the line stays shared
		c.last.Store(sec)
	}
}

// LastContact returns the time of the latest contact, or the zero time.
func (c *Coverage) LastContact() time.Time {
	if s := c.last.Load(); s != 0 {
		return time.Unix(s, 0).UTC()
	}
	return time.Time{}
}

// Advance returns the coverage interval in progress at now (or the one that
// just closed), and false when HAProxy has not reached the agent yet. An
// interval whose Start was returned before is the same interval, extended.
// Calls must be less than ContactWindow apart, so that no gap in contacts
// longer than the window falls between two calls unseen.
func (c *Coverage) Advance(now time.Time) (store.Interval, bool) {
	l := c.last.Load()
	if l == 0 {
		return store.Interval{}, false
	}
	window := int64(ContactWindow / time.Second)
	if !c.open || l-c.seenLast > window {
		c.open, c.start = true, l
	}
	c.seenLast = l
	end := min(l+window, now.Unix())
	if end < c.start {
		end = c.start
	}
	return store.Interval{Start: time.Unix(c.start, 0).UTC(), End: time.Unix(end, 0).UTC()}, true
}
