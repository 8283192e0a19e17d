package store

import (
	"fmt"
	"io"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"headcount/internal/plural"
)

// CheckResult is what Check found: how many days, hours and coverage intervals the database holds, the
// sessions its days sum to, and one line per broken invariant. Problems is empty when the database is
// consistent.
type CheckResult struct {
	Days, Hours, Intervals int
	Sessions               uint64 // sum of the days
	FlushSeq               uint64 // sequence number of the last flush applied (0: none)
	// SetAside lists the flush entries the store could not count where they belong (see Flush); they
	// are not problems of the file, but an auditor must see them.
	SetAside []SetAside
	Problems []string
}

// Check verifies, in one read transaction, bbolt's page structure and headcount's own invariants, and
// reports each broken one as a problem rather than an error:
//   - the days sum to completed_total plus imported_total, minus the sessions set aside and those
//     removed from days replay replaced;
//   - completed_total is the sum of its reasons, and no more than started_total;
//   - counts and a last flush time exist only with a flush sequence;
//   - coverage intervals end after they start, and are ordered and disjoint;
//   - no hour has more than an hour of samples, more live-session time than its peak allows, or a
//     peak above the sessions ever started;
//   - the sessions by hour of a day hold no more sessions of any class than the day;
//   - no day, hour, sessions by hour, window or coverage lies after the UTC day of now plus an hour (the
//     agent's clock may run a little ahead of the checking host's).
//
// It returns an error when a record of the days, hours, sessions by hour, windows, coverage or set-aside
// entries cannot be decoded.
func (db *DB) Check(now time.Time) (CheckResult, error) {
	var r CheckResult
	err := db.view(func(tx *bbolt.Tx) error {
		problem := func(format string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, a...)) }
		for _, e := range collect(tx.Check()) {
			problem("page structure: %v", e)
		}
		meta := tx.Bucket(bucketMeta)
		get := func(key []byte) uint64 {
			v, err := getUint(meta, key)
			if err != nil {
				problem("%v", err)
			}
			return v
		}
		started, completed, imported := get(keyStartedTotal), get(keyCompletedTotal), get(keyImportedTotal)
		setAside := get(keySetAsideTotal) + get(keyReplacedTotal) // both in no day
		r.FlushSeq = get(keyFlushCount)
		if r.FlushSeq == 0 && (started > 0 || completed > 0) {
			problem("%s %d and %s %d but no flush sequence: counts were written outside a flush",
				keyStartedTotal, started, keyCompletedTotal, completed)
		}
		if last, err := getTime(meta, keyLastFlush); err != nil {
			problem("%v", err)
		} else if !last.IsZero() && r.FlushSeq == 0 {
			problem("a last flush time (%s) but no flush sequence", last.Format(time.RFC3339))
		}
		var byReason uint64
		c := meta.Cursor()
		for k, _ := c.Seek([]byte(keyCompletedReasonPrefix)); k != nil && strings.HasPrefix(string(k), keyCompletedReasonPrefix); k, _ = c.Next() {
			byReason += get(k)
		}
		if byReason != completed {
			problem("%s is %d but its reasons sum to %d", keyCompletedTotal, completed, byReason)
		}
		if completed > started {
			problem("%s %d exceeds %s %d", keyCompletedTotal, completed, keyStartedTotal, started)
		}

		from, to := storableRange()
		days, err := readDays(tx, from, to)
		if err != nil {
			return err
		}
		r.Days = len(days)
		for _, d := range days {
			r.Sessions += d.Sessions
		}
		switch {
		case r.Sessions+setAside == completed+imported:
		case setAside == 0:
			problem("the days hold %d sessions but %s %d + %s %d = %d",
				r.Sessions, keyCompletedTotal, completed, keyImportedTotal, imported, completed+imported)
		default:
			problem("the days hold %d sessions but %s %d + %s %d - %s %d = %d",
				r.Sessions, keyCompletedTotal, completed, keyImportedTotal, imported, keySetAsideTotal, setAside,
				completed+imported-setAside)
		}
		// An hour of tolerance: the agent's clock may run a little ahead of the checking host's.
		tomorrow := now.Add(time.Hour).UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		for _, d := range days {
			if !d.Day.Before(tomorrow) {
				problem("day %s holds %d sessions but is after today (%s)", d.Day.Format(dayLayout), d.Sessions, now.UTC().Format(dayLayout))
			}
		}

		hours, err := readHours(tx, from, to)
		if err != nil {
			return err
		}
		r.Hours = len(hours)
		for _, h := range hours {
			if h.SampledMillis > hourMillis {
				problem("hour %s has %d ms of samples, more than an hour", h.Hour.Format(hourLayout), h.SampledMillis)
			}
			if h.LiveMillis > h.Peak*h.SampledMillis {
				problem("hour %s has more live-session time (%d) than its peak %d allows", h.Hour.Format(hourLayout), h.LiveMillis, h.Peak)
			}
			if h.Peak > started {
				problem("hour %s has a peak of %d live sessions but only %d were ever started", h.Hour.Format(hourLayout), h.Peak, started)
			}
			if !h.Hour.Before(tomorrow) {
				problem("hour %s is after today (%s)", h.Hour.Format(hourLayout), now.UTC().Format(dayLayout))
			}
		}

		// The sessions by hour: each hour's are in its day's count, so a day's hours hold no more
		// sessions of a class than the day (fewer where hours were not recorded: before schema 2,
		// imported days, set-aside entries).
		hourSessions, err := readHourSessions(tx, from, to)
		if err != nil {
			return err
		}
		var hourDays []DayCount // the sums of the hours of each day, in day order
		for _, h := range hourSessions {
			if !h.Hour.Before(tomorrow) {
				problem("hour %s holds %s but is after today (%s)", h.Hour.Format(hourLayout),
					plural.Count(h.Sessions, "completed session"), now.UTC().Format(dayLayout))
			}
			d := h.Hour.Truncate(24 * time.Hour)
			if n := len(hourDays); n == 0 || !hourDays[n-1].Day.Equal(d) {
				hourDays = append(hourDays, DayCount{Day: d})
			}
			sum := &hourDays[len(hourDays)-1]
			sum.Sessions += h.Sessions
			sum.Bots += h.Bots
			sum.Unclassified += h.Unclassified
		}
		dayCounts := make(map[time.Time]DayCount, len(days))
		for _, d := range days {
			dayCounts[d.Day] = d
		}
		for _, sum := range hourDays {
			d := dayCounts[sum.Day]
			if sum.Human() > d.Human() || sum.Bots > d.Bots || sum.Unclassified > d.Unclassified {
				problem("the hours of %s hold %d human, %d bot and %d unclassified sessions, more than the day's %d, %d and %d",
					sum.Day.Format(dayLayout), sum.Human(), sum.Bots, sum.Unclassified, d.Human(), d.Bots, d.Unclassified)
			}
		}

		windows, err := readWindows(tx, from, to)
		if err != nil {
			return err
		}
		for _, w := range windows {
			if !w.Start.Before(tomorrow) {
				problem("window %s holds %s but is after today (%s)", w.Start.Format(time.RFC3339),
					plural.Count(w.Sessions, "session"), now.UTC().Format(dayLayout))
			}
		}

		coverage, err := readCoverage(tx)
		if err != nil {
			return err
		}
		r.Intervals = len(coverage)
		for i, iv := range coverage {
			if iv.End.Before(iv.Start) {
				problem("coverage interval %s ends before it starts (%s)", iv.Start.Format(time.RFC3339), iv.End.Format(time.RFC3339))
			}
			if i > 0 && iv.Start.Before(coverage[i-1].End) {
				problem("coverage intervals starting %s and %s overlap", coverage[i-1].Start.Format(time.RFC3339), iv.Start.Format(time.RFC3339))
			}
			if iv.End.After(tomorrow) {
				problem("coverage interval %s ends after today (%s)", iv.Start.Format(time.RFC3339), iv.End.Format(time.RFC3339))
			}
		}
		r.SetAside, err = readSetAside(tx)
		return err
	})
	return r, err
}

// collect drains errs, the problems bbolt's Tx.Check reports, into a slice.
func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// Backup writes a consistent copy of the database file to w from one read transaction, and returns the
// number of bytes written. Writers are not blocked meanwhile: the agent keeps metering and flushing.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// CheckPending reports on the pending file of the database at path (see PendingPath), given the flush
// sequence the database holds: the sequence numbers of the flushes it holds that the database does
// not (the agent applies them at its next start), or a problem when they do not continue the
// database's sequence. Flushes the database holds already are ignored.
func CheckPending(path string, stored uint64) (notApplied []uint64, problem string, err error) {
	flushes, err := ReadPending(path)
	if err != nil {
		return nil, "", err
	}
	next := stored + 1
	for _, f := range flushes {
		if f.Seq <= stored {
			continue
		}
		if f.Seq != next {
			return notApplied, fmt.Sprintf("%s holds flush %d where flush %d comes next (the database holds flush %d): it is not this database's",
				PendingPath(path), f.Seq, next, stored), nil
		}
		notApplied = append(notApplied, f.Seq)
		next++
	}
	return notApplied, "", nil
}
