package session

import (
	"sync"
	"sync/atomic"
)

// completions counts completed sessions per (reason, class, UTC hour) without
// a lock in the common case. Each reason and class has a ring of slots indexed
// by hour; a slot word packs the hour (plus one, so that 0 means empty) and a
// count. Collect empties the slots with an atomic swap, so a completion is
// either in the swapped word or lands in the emptied slot afterwards, never in
// both. An hour whose slot still holds another hour (only when collection lags
// by more than ringHours hours), or one the tag cannot hold (before 1970: a
// wall clock set far back), goes to a small locked map.
type completions struct {
	ring [numReasons][numClasses][ringHours]atomic.Uint64

	mu       sync.Mutex
	overflow map[completionKey]uint64
}

const (
	ringHours = 16 * 24
	countBits = 40
	countMask = 1<<countBits - 1
	maxTag    = 1<<(64-countBits) - 1 // the largest hour+1 a slot word holds
)

type completionKey struct {
	reason Reason
	class  Class
	hour   int64 // hours since the Unix epoch
}

func (c *completions) add(reason Reason, class Class, hour int64) {
	if hour+1 < 1 || hour+1 > maxTag {
		c.addLocked(completionKey{reason, class, hour})
		return
	}
	slot := &c.ring[reason][class][uint64(hour)%ringHours]
	tag := uint64(hour+1) << countBits
	for {
		w := slot.Load()
		switch {
		case w == 0:
			if slot.CompareAndSwap(0, tag|1) {
				return
			}
		case w&^countMask == tag && w&countMask < countMask:
			if slot.CompareAndSwap(w, w+1) {
				return
			}
		default:
			c.addLocked(completionKey{reason, class, hour})
			return
		}
	}
}

func (c *completions) addLocked(k completionKey) {
	c.mu.Lock()
	c.overflow[k]++
	c.mu.Unlock()
}

// drain returns and forgets every count.
func (c *completions) drain() map[completionKey]uint64 {
	out := make(map[completionKey]uint64)
	for r := range c.ring {
		for cl := range c.ring[r] {
			for i := range c.ring[r][cl] {
				if c.ring[r][cl][i].Load() == 0 {
					continue // most slots are empty: a load costs less than a swap
				}
				if w := c.ring[r][cl][i].Swap(0); w != 0 {
					out[completionKey{Reason(r), Class(cl), int64(w>>countBits) - 1}] += w & countMask
				}
			}
		}
	}
	c.mu.Lock()
	for k, n := range c.overflow {
		out[k] += n
		delete(c.overflow, k)
	}
	c.mu.Unlock()
	return out
}
