package usage

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Sender runs a Transmitter every interval, retrying a failed transmission
// with backoff (the same transmission, unchanged) until the receiver
// acknowledges it.
type Sender struct {
	t         *Transmitter
	every     time.Duration
	now       func() time.Time
	after     func(time.Duration) <-chan time.Time
	onAttempt func(Transmission, error)
	log       zerolog.Logger
	ok, fail  atomic.Uint64
}

// SenderOptions sets a Sender up.
type SenderOptions struct {
	Transmitter *Transmitter
	// Every is the interval between acknowledged transmissions.
	Every time.Duration
	// Now is the wall clock that dates transmissions; default time.Now.
	Now func() time.Time
	// After is the timer Run waits on before each attempt: the interval, or
	// the backoff after a failure. Default time.After; tests pass their own
	// to see the waits asked for and to end them at once.
	After func(time.Duration) <-chan time.Time
	// OnAttempt, when set, is called after each attempt Run makes, from
	// Run's goroutine, with the transmission tried and its error.
	OnAttempt func(Transmission, error)
	Log       zerolog.Logger
}

// NewSender returns a sender; Run starts it.
func NewSender(o SenderOptions) *Sender {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	return &Sender{t: o.Transmitter, every: o.Every, now: o.Now, after: o.After, onAttempt: o.OnAttempt, log: o.Log}
}

// SenderStats counts the transmissions attempted since start.
type SenderStats struct{ OK, Failed uint64 }

// Stats returns the transmissions attempted since start.
func (u *Sender) Stats() SenderStats { return SenderStats{OK: u.ok.Load(), Failed: u.fail.Load()} }

// minBackoff is the wait before the first retry; each further failure
// doubles it, up to the interval.
const minBackoff = 100 * time.Millisecond

// Run transmits every interval until ctx is done. After a failure it waits
// minBackoff, then twice as long after each further failure, never longer
// than the interval; after a success it waits the interval again.
func (u *Sender) Run(ctx context.Context) {
	if err := u.t.Begin(u.now()); err != nil {
		u.log.Warn().Err(err).Msg("storing the first usage state failed; the first attempt stores it")
	}
	wait, backoff := u.every, time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.after(wait):
		}
		wall := u.now()
		tr, err := u.t.Step(ctx, wall) // bounded by the transmitter's HTTP client timeout
		switch {
		case errors.Is(err, ErrClockBehind):
			wait, backoff = u.every, 0
			u.log.Warn().Err(err).Msg("no usage transmission this time: the clock was set back")
		case err != nil:
			u.fail.Add(1)
			backoff = min(max(2*backoff, minBackoff), u.every) // 100ms, 200ms, … up to the interval
			wait = backoff
			u.log.Warn().Err(err).Uint64("sequence", tr.Sequence).Stringer("retry_in", wait).Msg("usage transmission failed; it is kept and resent unchanged")
		default:
			u.ok.Add(1)
			u.log.Info().Uint64("sequence", tr.Sequence).Uint64("sessions", tr.Sessions).Msg("usage transmitted")
			wait, backoff = u.every, 0
		}
		if u.onAttempt != nil {
			u.onAttempt(tr, err)
		}
	}
}
