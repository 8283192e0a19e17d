package agent

import (
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/session"
)

// overflowWarnEvery is the least time between two overflow warnings.
const overflowWarnEvery = time.Minute

// overflowMessage is the overflow warning's text; its fields say how many
// requests overflowed since the previous warning (or the start) and the
// bound.
const overflowMessage = "the session table is full (--max-live-sessions): requests with a new key are each counted at once " +
	"as a completed one-request session (reason overflow) and not kept, so nothing is lost but their sessions may be " +
	"counted more than once; if these are real clients, raise --max-live-sessions (about 27 bytes a session)"

// overflowWarning logs, at most once per overflowWarnEvery, how many
// requests the session table counted as overflow sessions since its
// previous line. Call check from one goroutine.
type overflowWarning struct {
	table  *session.Table
	log    zerolog.Logger
	warned uint64    // overflow sessions counted up to the previous line
	last   time.Time // mono time of the previous line; zero before the first
}

// check logs a warning at mono time now if requests overflowed since the
// previous one and that one is at least overflowWarnEvery old.
func (w *overflowWarning) check(now time.Time) {
	n := w.table.Stats().Completed[session.ReasonOverflow]
	if n == w.warned || (!w.last.IsZero() && now.Sub(w.last) < overflowWarnEvery) {
		return
	}
	w.log.Warn().Uint64("overflowed", n-w.warned).Int64("max_live_sessions", w.table.MaxLive()).Msg(overflowMessage)
	w.warned, w.last = n, now
}
