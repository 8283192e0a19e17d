package agent

import (
	"context"
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
// with the next one, so a count is never lost nor written twice.
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

	flushErrors atomic.Uint64
	recovered   atomic.Uint64
	lastFlush   atomic.Int64 // Unix nanoseconds of the last successful flush
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

// Recover counts the sessions that were live when a previous run crashed
// as completed with reason "recovered", on the day of the last flush.
func (m *Meter) Recover(now time.Time) (uint64, error) {
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
	if err := m.db.Flush(m.pending); err != nil {
		m.flushErrors.Add(1)
		m.log.Error().Err(err).Msg("flush failed; the counts stay in memory and are retried with the next flush")
		return err
	}
	m.pending = emptyFlush()
	m.lastFlush.Store(wall.UnixNano())
	return nil
}

// collect adds the table's and the coverage's news to the pending flush.
func (m *Meter) collect(mono, wall time.Time) {
	d := m.table.Collect()
	p := &m.pending
	p.Now = wall
	p.Started += d.Started
	var completed uint64
	for _, c := range d.Completions {
		p.Completed[c.Reason.String()] += c.Sessions
		p.Days = append(p.Days, store.DayCount{Day: c.Day, Sessions: c.Sessions})
		completed += c.Sessions
	}
	if completed > 0 {
		p.Windows = append(p.Windows, store.WindowCount{Start: wall.Truncate(store.Window), Sessions: completed})
	}
	for _, h := range d.Hours {
		p.Hours = append(p.Hours, store.HourStat{Hour: h.Hour, Peak: h.Peak, LiveMillis: h.LiveMillis, SampledMillis: h.SampledMillis})
	}
	if iv, ok := m.coverage.Advance(mono, wall); ok {
		if n := len(p.Coverage); n > 0 && p.Coverage[n-1].Start.Equal(iv.Start) {
			p.Coverage[n-1] = iv
		} else {
			p.Coverage = append(p.Coverage, iv)
		}
	}
}

// Shutdown counts every live session as completed (reason shutdown, or its
// own reason if it was already over) and flushes. Call it after the SPOP
// server has drained, so that no request starts a session afterwards.
func (m *Meter) Shutdown(mono, wall time.Time) error {
	m.table.SetWall(mono, wall)
	n := m.table.EndAll(mono)
	m.log.Info().Int("sessions", n).Msg("ended the live sessions for shutdown")
	return m.Flush(mono, wall)
}

// FlushErrors returns the number of failed flushes since start.
func (m *Meter) FlushErrors() uint64 { return m.flushErrors.Load() }

// Recovered returns the number of sessions counted as recovered at start.
func (m *Meter) Recovered() uint64 { return m.recovered.Load() }

// LastFlush returns the time of the last successful flush, or the zero time.
func (m *Meter) LastFlush() time.Time {
	if ns := m.lastFlush.Load(); ns != 0 {
		return time.Unix(0, ns).UTC()
	}
	return time.Time{}
}
