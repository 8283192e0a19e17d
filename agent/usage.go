package agent

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"headcount/reporting"
)

// usageSender runs the online usage transmitter every interval, retrying a
// failed transmission with backoff (the same transmission, unchanged) until
// the receiver acknowledges it.
type usageSender struct {
	t        *reporting.Transmitter
	every    time.Duration
	clock    Clock
	log      zerolog.Logger
	ok, fail atomic.Uint64
	last     atomic.Int64 // Unix nanoseconds of the last acknowledged transmission
}

func (u *usageSender) run(ctx context.Context) {
	wait, backoff := u.every, time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		_, wall := u.clock()
		tr, err := u.t.Step(ctx, wall) // bounded by the transmitter's HTTP client timeout
		if err != nil {
			u.fail.Add(1)
			backoff = min(max(2*backoff, 100*time.Millisecond), u.every) // 100ms, 200ms, … up to the interval
			wait = backoff
			u.log.Warn().Err(err).Uint64("sequence", tr.Sequence).Stringer("retry_in", wait).Msg("usage transmission failed; it is kept and resent unchanged")
			continue
		}
		u.ok.Add(1)
		u.last.Store(wall.UnixNano())
		u.log.Info().Uint64("sequence", tr.Sequence).Uint64("sessions", tr.Sessions).Msg("usage transmitted")
		wait, backoff = u.every, 0
	}
}
