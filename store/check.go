package store

import (
	"fmt"
	"io"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// CheckResult is what Check found: how many days, hours and coverage intervals the database holds, the
// sessions its days sum to, and one line per broken invariant. Problems is empty when the database is
// consistent.
type CheckResult struct {
	Days, Hours, Intervals int
	Sessions               uint64 // sum of the days
	FlushSeq               uint64 // sequence number of the last flush applied (0: none)
	Problems               []string
}

// Check verifies, in one read transaction, bbolt's page structure and headcount's own invariants, and
// reports each broken one as a problem rather than an error:
//   - the days sum to completed_total plus imported_total;
//   - completed_total is the sum of its reasons, and no more than started_total;
//   - coverage intervals end after they start, and are ordered and disjoint;
//   - no hour has more than an hour of samples, nor more live-session time than its peak allows.
//
// It returns an error when a record of the days, hours or coverage cannot be decoded.
func (db *DB) Check() (CheckResult, error) {
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
		r.FlushSeq = get(keyFlushCount)
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
		if r.Sessions != completed+imported {
			problem("the days hold %d sessions but %s %d + %s %d = %d",
				r.Sessions, keyCompletedTotal, completed, keyImportedTotal, imported, completed+imported)
		}

		hours, err := readHours(tx, from, to)
		if err != nil {
			return err
		}
		r.Hours = len(hours)
		for _, h := range hours {
			if h.SampledMillis > 3_600_000 {
				problem("hour %s has %d ms of samples, more than an hour", h.Hour.Format(hourLayout), h.SampledMillis)
			}
			if h.LiveMillis > h.Peak*h.SampledMillis {
				problem("hour %s has more live-session time (%d) than its peak %d allows", h.Hour.Format(hourLayout), h.LiveMillis, h.Peak)
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
		}
		return nil
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
