package export

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"headcount/internal/atomicfile"
	"headcount/report"
	"headcount/report/metricsfile"
	"headcount/store"

	"github.com/rs/zerolog"
)

// Schedule writes the scheduled report files: one per completed
// period of Every (24h, 168h: weeks from Sunday, or 720h: 30-day periods
// counted from 1970-01-01), under
// Dir/Reports/<Name>/<year>/<month>/<day>/<report-id>.csv (the period's
// first day), each the CSV of `headcount export --by day` for the period,
// signed when SignKey is set.
type Schedule struct {
	Dir, Name   string
	Every       time.Duration
	Environment string
	// Settle is how long after a period's end its report waits, so that the
	// sessions whose last request fell in it have completed (the idle
	// timeout plus a flush).
	Settle time.Duration
	// Since bounds how far back missed periods are written.
	Since time.Duration
	// SignKey, when set, signs each file as the metrics file is signed
	// (metricsfile.Seal): every CSV line then ends in a chain value and an
	// END line follows, which headcount verify checks. Without it the file
	// is the plain CSV.
	SignKey ed25519.PrivateKey
}

// period returns the start of the period containing day (UTC midnight).
func (s Schedule) period(day time.Time) time.Time {
	switch s.Every {
	case 7 * 24 * time.Hour:
		return day.AddDate(0, 0, -int(day.Weekday()))
	case 30 * 24 * time.Hour:
		n := day.Unix() / 86400
		return time.Unix((n-n%30)*86400, 0).UTC()
	}
	return day
}

// Path returns the file of the period starting at start.
func (s Schedule) Path(start time.Time) string {
	end := start.Add(s.Every)
	id := fmt.Sprintf("%s_%s_%s", s.Name, start.Format("2006-01-02"), end.Format("2006-01-02"))
	return filepath.Join(s.Dir, "Reports", s.Name, start.Format("2006"), start.Format("01"), start.Format("02"), id+".csv")
}

// WriteDue writes the report of every period that ended at least Settle
// before now (within Since), from the database's data: periods missed while
// the agent was down are written now. A period whose file already holds the
// same report is left alone, so writing again changes nothing. It returns
// the files written.
func (s Schedule) WriteDue(db *store.DB, now time.Time) ([]string, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	first := s.period(today.Add(-s.Since).Truncate(24 * time.Hour))
	var written []string
	for start := first; !start.Add(s.Every).Add(s.Settle).After(now); start = start.Add(s.Every) {
		end := start.Add(s.Every)
		snap, err := db.Snapshot(start, end, store.Parts{})
		if err != nil {
			return written, err
		}
		env := s.Environment
		if env == "" {
			env = snap.Environment
		}
		r := Report(snap, start, end, report.Day, env, now) // a settled past period: now cuts nothing
		if !metered(r) {
			continue // a gap for the whole period: no report
		}
		var b bytes.Buffer
		if err := report.WriteCSV(&b, r); err != nil {
			return written, err
		}
		if s.SignKey != nil {
			csv := b.String()
			b.Reset()
			if err := metricsfile.Seal(&b, csv, s.SignKey); err != nil {
				return written, err
			}
		}
		path := s.Path(start)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b.Bytes()) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return written, err
		}
		if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { _, err := w.Write(b.Bytes()); return err }); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// metered reports whether any day of r was covered.
func metered(r report.Report) bool {
	for _, p := range r.Periods {
		if p.Covered() {
			return true
		}
	}
	return false
}

// reportsEvery is how often a Scheduler looks for due reports by default.
const reportsEvery = time.Minute

// SchedulerOptions sets a Scheduler up.
type SchedulerOptions struct {
	Schedule Schedule
	DB       *store.DB
	// Now is the wall clock; default time.Now.
	Now func() time.Time
	// Tick triggers each look for due reports after the first; default a
	// ticker of a minute. Tests send on their own channel.
	Tick <-chan time.Time
	// OnRun, when set, is called after each look for due reports, from
	// Run's goroutine, with the files written and the error.
	OnRun func(written []string, err error)
	Log   zerolog.Logger
}

// Scheduler writes a Schedule's reports as they fall due.
type Scheduler struct {
	o SchedulerOptions
}

// NewScheduler returns a scheduler; Run starts it.
func NewScheduler(o SchedulerOptions) *Scheduler {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Scheduler{o: o}
}

// Run writes the due reports at once (periods missed while the agent was
// down) and then on every tick until ctx is done. A failed write is logged
// and tried again at the next tick.
func (s *Scheduler) Run(ctx context.Context) {
	tick := s.o.Tick
	if tick == nil {
		t := time.NewTicker(reportsEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		written, err := s.o.Schedule.WriteDue(s.o.DB, s.o.Now())
		for _, p := range written {
			s.o.Log.Info().Str("file", p).Msg("wrote a scheduled report")
		}
		if err != nil {
			s.o.Log.Error().Err(err).Msg("writing the scheduled reports failed; retried in a minute")
		}
		if s.o.OnRun != nil {
			s.o.OnRun(written, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}
