package session

import (
	"sync"
	"sync/atomic"
)

// completions counts completed sessions per (reason, UTC day) without a lock
// in the common case. Each reason has a ring of slots indexed by day; a slot
// word packs the day (plus one, so that 0 means empty) and a count. Collect
// empties the slots with an atomic swap, so a completion is either in the
// swapped word or lands in the emptied slot afterwards, never in both.
// A day whose slot still holds another day (only when collection lags by
// more than ringDays days) goes to a small locked map.
type completions struct {
	ring [numReasons][ringDays]atomic.Uint64

	mu       sync.Mutex
	overflow map[completionKey]uint64
}

const (
	ringDays  = 16
	countBits = 40
	countMask = 1<<countBits - 1
)

type completionKey struct {
	reason Reason
	day    int64 // days since the Unix epoch
}

func (c *completions) add(reason Reason, day int64) {
	slot := &c.ring[reason][uint64(day)%ringDays]
	tag := uint64(day+1) << countBits
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
			c.mu.Lock()
			c.overflow[completionKey{reason, day}]++
			c.mu.Unlock()
			return
		}
	}
}

// drain returns and forgets every count.
func (c *completions) drain() map[completionKey]uint64 {
	out := make(map[completionKey]uint64)
	for r := range c.ring {
		for i := range c.ring[r] {
			if w := c.ring[r][i].Swap(0); w != 0 {
				out[completionKey{Reason(r), int64(w>>countBits) - 1}] += w & countMask
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
