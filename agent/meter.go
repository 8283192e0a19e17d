package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/session"
	"headcount/store"
)

// SweepInterval is how often the meter ends idle and over-age sessions and
// samples the live count for the hour statistics.
const SweepInterval = time.Second

// Meter moves what the session table and the coverage record into the store:
// it sweeps the table every SweepInterval and flushes every flush interval,
// one write transaction each. What a failed flush held is kept and retried
// with the next one, so a count is never lost nor written twice. An entry
// the store cannot count where it belongs (a day in 1969 from a wall clock
// set back) is set aside by the store, never held back: it cannot block the
// flushes after it.
//
// While flushes fail, what they held is also written to the database's
// pending file (store.PendingPath), which the next start applies: a crash
// then loses only the sessions started since the last flush that reached
// the database or the pending file — one flush interval, unless both
// cannot be written. Pending counts are kept merged per day, hour and
// window, so memory does not grow with the number of failed flushes.
//
// Every flush carries a sequence number, stored in its transaction, and the
// store refuses any but the next one. When a flush fails its commit (a write
// or the fdatasync of the file failed), the transaction may be in the file
// nonetheless: the meter then reads the stored sequence. If it is the
// failed flush's, the flush landed and its counts leave pending; otherwise
// they stay pending and are retried with the same number. Until that
// question is answered (the read itself can fail) no flush is attempted.
type Meter struct {
	table    *session.Table
	coverage *Coverage
	db       *store.DB
	every    time.Duration
	clock    Clock
	log      zerolog.Logger

	sweepTick, flushTick <-chan time.Time
	onSweep              func()
	onFlush              func(error)

	mu      sync.Mutex // serialises Flush and Shutdown
	pending store.Flush
	// seq is the sequence number of the last flush known to be stored; valid
	// when seqKnown. doubt is a flush whose commit failed, until the
	// stored sequence says whether it landed; pending then holds only what was
	// collected after it.
	seq      uint64
	seqKnown bool
	doubt    *store.Flush
	// pendingFile is true while a pending file this run wrote may exist.
	pendingFile bool

	flushErrors   atomic.Uint64
	pendingErrors atomic.Uint64
	setAside      atomic.Uint64
	recovered     atomic.Uint64
	lastFlush     atomic.Int64 // Unix nanoseconds of the last successful flush
}

// MeterOptions sets a Meter up.
type MeterOptions struct {
	Table    *session.Table
	Coverage *Coverage
	DB       *store.DB
	// FlushEvery is the flush interval: what a crash can lose.
	FlushEvery time.Duration
	// Clock is the metering clock (SystemClock in production).
	Clock Clock
	// SweepTick and FlushTick drive Run; default tickers of SweepInterval
	// and FlushEvery on the real clock. Tests send on their own channels.
	SweepTick, FlushTick <-chan time.Time
	// OnSweep and OnFlush, when set, are called after each sweep and each
	// flush Run makes (not the flushes of Flush and Shutdown called
	// directly), from Run's goroutine; OnFlush gets the flush's error.
	OnSweep func()
	OnFlush func(error)
	Log     zerolog.Logger
}

// NewMeter returns a meter flushing the table and coverage to the database.
func NewMeter(o MeterOptions) *Meter {
	return &Meter{table: o.Table, coverage: o.Coverage, db: o.DB, every: o.FlushEvery, clock: o.Clock, log: o.Log,
		sweepTick: o.SweepTick, flushTick: o.FlushTick, onSweep: o.OnSweep, onFlush: o.OnFlush, pending: emptyFlush()}
}

func emptyFlush() store.Flush {
	return store.Flush{Completed: make(map[string]uint64)}
}

// Recover applies the flushes of the database's pending file that the
// database does not hold (written by a previous run while its flushes
// failed), then counts the sessions that were live when a previous run
// crashed as completed with reason "recovered", on the day of the last
// flush.
func (m *Meter) Recover(now time.Time) (uint64, error) {
	applied, aside, err := m.db.ApplyPending()
	if len(applied) > 0 {
		m.log.Warn().Uints64("flushes", applied).Str("file", store.PendingPath(m.db.Path())).
			Msg("applied the flushes a previous run could not write to the database")
	}
	m.noteSetAside(aside)
	if err != nil {
		return 0, err
	}
	n, err := m.db.Recover(now)
	if err != nil {
		return 0, err
	}
	m.recovered.Add(n)
	if n > 0 {
		m.log.Warn().Uint64("sessions", n).Msg("counted the sessions live at the previous run's crash as completed (reason recovered)")
	}
	return n, nil
}

// Run sweeps and flushes until ctx is done. It does not flush at the end:
// Shutdown does, once the SPOP connections are closed.
func (m *Meter) Run(ctx context.Context) {
	sweepTick, flushTick := m.sweepTick, m.flushTick
	if sweepTick == nil {
		t := time.NewTicker(SweepInterval)
		defer t.Stop()
		sweepTick = t.C
	}
	if flushTick == nil {
		t := time.NewTicker(m.every)
		defer t.Stop()
		flushTick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweepTick:
			mono, wall := m.clock()
			m.table.SetWall(mono, wall)
			m.table.Sweep(mono)
			if m.onSweep != nil {
				m.onSweep()
			}
		case <-flushTick:
			err := m.Flush(m.clock())
			if m.onFlush != nil {
				m.onFlush(err)
			}
		}
	}
}

// Flush writes what was recorded since the previous successful flush, at
// mono on the monotonic clock and wall on the wall clock.
func (m *Meter) Flush(mono, wall time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.collect(mono, wall)
	if _, err := m.resolve(); err != nil {
		m.flushErrors.Add(1)
		m.log.Error().Err(err).Msg("flush not attempted: cannot read the stored flush sequence; the counts stay in memory and are retried with the next flush")
		m.writePendingFile()
		return err
	}
	f := m.pending
	f.Seq = m.seq + 1
	if !m.matchPendingFile(f) {
		m.flushErrors.Add(1)
		return fmt.Errorf("flush %d not attempted: the pending file can be neither rewritten nor removed", f.Seq)
	}
	aside, err := m.db.Flush(f)
	if err == nil {
		m.seq = f.Seq
		m.pending = emptyFlush()
		m.lastFlush.Store(f.Now.UnixNano())
		m.noteSetAside(aside)
		m.dropPendingFile()
		return nil
	}
	m.flushErrors.Add(1)
	if !errors.Is(err, store.ErrCommit) {
		// Refused before anything was written. Reread the sequence next
		// time in case it was refused for its number.
		m.seqKnown = false
		m.log.Error().Err(err).Msg("flush failed; the counts stay in memory and are retried with the next flush")
		m.writePendingFile()
		return err
	}
	m.doubt, m.pending = &f, emptyFlush()
	landed, rerr := m.resolve()
	switch {
	case rerr != nil:
		m.log.Error().Err(err).AnErr("read", rerr).Uint64("flush", f.Seq).
			Str("landed", "unknown until the stored sequence can be read; no flush before").
			Msg("flush failed; the counts stay in memory and are retried with the next flush")
		m.writePendingFile()
		return err
	case landed:
		m.log.Warn().Err(err).Uint64("flush", f.Seq).
			Msg("flush commit reported a failure but the database holds the flush; it is not written again")
		m.noteSetAside(aside)
		m.dropPendingFile()
		return nil
	default:
		m.log.Error().Err(err).Uint64("flush", f.Seq).Str("landed", "no: the database does not hold it").
			Msg("flush failed; the counts stay in memory and are retried with the next flush")
		m.writePendingFile()
		return err
	}
}

// writePendingFile writes every flush not known to be in the database to
// the pending file, with the sequence number it will be written under: the
// flush in doubt, if any, then the pending counts (unless there are none).
// The next start applies those the database does not hold.
func (m *Meter) writePendingFile() {
	next := m.seq + 1
	var flushes []store.Flush
	if m.doubt != nil {
		flushes = append(flushes, *m.doubt)
		next = m.doubt.Seq + 1
	}
	if p := m.pending; !emptyPending(p) {
		p.Seq = next
		flushes = append(flushes, p)
	}
	m.pendingFile = true
	if err := store.WritePending(m.db.Path(), flushes); err != nil {
		m.pendingErrors.Add(1)
		m.log.Error().Err(err).Msg("cannot write the pending file either: a crash now loses the sessions started since the last flush that was written")
	}
}

// matchPendingFile makes a pending file, if one may exist, hold exactly f
// before f is attempted. f gathers everything the file held under the same
// first sequence number (a flush that did not land is merged into the
// next); were f to land and the agent crash before the file is removed, the
// next start would skip f's number and apply the file's later flushes,
// which f already holds. When the file can be neither written nor removed,
// it reports false and f must not be attempted.
func (m *Meter) matchPendingFile(f store.Flush) bool {
	if !m.pendingFile {
		return true
	}
	err := store.WritePending(m.db.Path(), []store.Flush{f})
	if err == nil {
		return true
	}
	m.pendingErrors.Add(1)
	if rerr := store.RemovePending(m.db.Path()); rerr != nil {
		m.log.Error().Err(err).AnErr("remove", rerr).
			Msg("flush not attempted: the pending file can be neither rewritten nor removed; the counts stay in memory and are retried with the next flush")
		return false
	}
	m.pendingFile = false
	m.log.Error().Err(err).Msg("removed the pending file, which could not be rewritten: a crash now loses the sessions started since the last flush that was written")
	return true
}

// dropPendingFile removes the pending file once the database holds all it
// held. One left behind is harmless (the next start skips the flushes it
// holds that the database holds).
func (m *Meter) dropPendingFile() {
	if !m.pendingFile {
		return
	}
	if err := store.RemovePending(m.db.Path()); err != nil {
		m.log.Warn().Err(err).Msg("cannot remove the pending file; the next start skips the flushes it holds that the database holds")
		return
	}
	m.pendingFile = false
}

// emptyPending reports whether f carries nothing but its time.
func emptyPending(f store.Flush) bool {
	return f.Started == 0 && len(f.Completed) == 0 && len(f.Days) == 0 && len(f.Hours) == 0 &&
		len(f.Windows) == 0 && len(f.Coverage) == 0
}

// noteSetAside logs and counts the entries the store set aside.
func (m *Meter) noteSetAside(aside []store.SetAside) {
	for _, e := range aside {
		m.setAside.Add(1)
		m.log.Error().Str("entry", e.String()).
			Msg("the database set a flush entry aside (see headcount check): its time or value is impossible, usually a wall clock set far off")
	}
}

// resolve makes the stored flush sequence known. When a flush is in doubt
// (m.doubt, its commit failed) it reads the stored sequence: if the
// database holds that flush it is done (landed);
// if not, its counts go back into pending, ahead of what was collected
// since, to be written with the next flush. On an error nothing changes and
// the next flush tries again.
func (m *Meter) resolve() (landed bool, err error) {
	if m.doubt == nil && m.seqKnown {
		return false, nil
	}
	stored, err := m.db.FlushSeq()
	if err != nil {
		return false, err
	}
	if d := m.doubt; d != nil {
		switch stored {
		case d.Seq:
			landed = true
			m.lastFlush.Store(d.Now.UnixNano())
		case d.Seq - 1:
			m.pending = mergeFlushes(*d, m.pending)
		default:
			return false, fmt.Errorf("%w: the database holds flush %d, this agent last wrote flush %d",
				store.ErrFlushSequence, stored, d.Seq)
		}
		m.doubt = nil
	}
	m.seq, m.seqKnown = stored, true
	return landed, nil
}

// mergeFlushes returns a flush that applies a and then b.
func mergeFlushes(a, b store.Flush) store.Flush {
	out := emptyFlush()
	for _, f := range []store.Flush{a, b} {
		out.Started += f.Started
		for r, n := range f.Completed {
			out.Completed[r] += n
		}
		for _, d := range f.Days {
			out.AddDay(d)
		}
		for _, h := range f.Hours {
			out.AddHour(h)
		}
		for _, w := range f.Windows {
			out.AddWindow(w)
		}
		for _, h := range f.HourSessions {
			out.AddHourSessions(h)
		}
		for _, iv := range f.Coverage {
			out.AddInterval(iv)
		}
		if f.Now.After(out.Now) {
			out.Now = f.Now
		}
	}
	return out
}

// collect adds the table's and the coverage's news to the pending flush.
func (m *Meter) collect(mono, wall time.Time) {
	d := m.table.Collect()
	p := &m.pending
	p.Now = wall
	p.Started += d.Started
	window := store.WindowCount{Start: wall.Truncate(store.Window)}
	for _, c := range d.Completions {
		p.Completed[c.Reason.String()] += c.Sessions
		bots, unclassified := c.Parts()
		p.AddDay(store.DayCount{Day: c.Day, Sessions: c.Sessions, Bots: bots, Unclassified: unclassified})
		p.AddHourSessions(store.HourCount{Hour: c.Hour, Sessions: c.Sessions, Bots: bots, Unclassified: unclassified})
		window.Sessions += c.Sessions
		window.Bots += bots
		window.Unclassified += unclassified
	}
	if window.Sessions > 0 {
		p.AddWindow(window)
	}
	for _, h := range d.Hours {
		p.AddHour(store.HourStat{Hour: h.Hour, Peak: h.Peak, LiveMillis: h.LiveMillis, SampledMillis: h.SampledMillis})
	}
	if iv, ok := m.coverage.Advance(mono, wall); ok {
		p.AddInterval(iv)
	}
}

// Shutdown counts every live session as completed (reason shutdown, or its
// own reason if it was already over) and flushes, trying up to
// shutdownFlushAttempts times. Call it after the SPOP
// server has drained, so that no request starts a session afterwards.
func (m *Meter) Shutdown(mono, wall time.Time) error {
	m.table.SetWall(mono, wall)
	n := m.table.EndAll(mono)
	m.log.Info().Int("sessions", n).Msg("ended the live sessions for shutdown")
	// Nothing flushes after this one, so a failed attempt is retried, for
	// about a second at most: numbered flushes make a retry safe after any
	// failure. Should every attempt fail, the counts are in the pending file
	// (if it could be written), which the next start applies; failing that,
	// the sessions ended here that the database holds as started are
	// counted at the next start (reason recovered) on the day of the last
	// flush that landed.
	var err error
	for attempt := 1; attempt <= shutdownFlushAttempts; attempt++ {
		if err = m.Flush(mono, wall); err == nil {
			return nil
		}
		if attempt < shutdownFlushAttempts {
			time.Sleep(shutdownFlushPause)
		}
	}
	return err
}

// shutdownFlushAttempts and shutdownFlushPause bound the retries of the
// flush at shutdown.
const (
	shutdownFlushAttempts = 10
	shutdownFlushPause    = 100 * time.Millisecond
)

// FlushErrors returns the number of failed flushes since start.
func (m *Meter) FlushErrors() uint64 { return m.flushErrors.Load() }

// PendingErrors returns the number of failed writes of the pending file since start.
func (m *Meter) PendingErrors() uint64 { return m.pendingErrors.Load() }

// SetAside returns the number of flush entries the database set aside since start.
func (m *Meter) SetAside() uint64 { return m.setAside.Load() }

// Recovered returns the number of sessions counted as recovered at start.
func (m *Meter) Recovered() uint64 { return m.recovered.Load() }

// LastFlush returns the time of the last successful flush, or the zero time.
func (m *Meter) LastFlush() time.Time {
	if ns := m.lastFlush.Load(); ns != 0 {
		return time.Unix(0, ns).UTC()
	}
	return time.Time{}
}
