package store

import (
	"fmt"
	"io"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Report is what Check found: a summary and the broken invariants, if any.
type Report struct {
	Days, Hours, Intervals int
	Sessions               uint64 // sum of the days
	Problems               []string
}

// Check verifies, in one read transaction, headcount's own invariants (the
// file's page structure was checked when it was opened):
//   - the days sum to completed_total plus imported_total;
//   - completed_total is the sum of its reasons, and no more than
//     started_total;
//   - coverage intervals end after they start, and are ordered and disjoint;
//   - no hour has more than an hour of samples, nor more live-session time
//     than its peak allows.
func (db *DB) Check() (Report, error) {
	var r Report
	err := db.view(func(tx *bbolt.Tx) error {
		problem := func(format string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, a...)) }
		if errs := collect(tx.Check()); len(errs) > 0 {
			for _, e := range errs {
				problem("page structure: %v", e)
			}
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

		days, err := readDays(tx, dayKeyTime("1970-01-01"), dayKeyTime("9999-12-31"))
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

		hours, err := readHours(tx, dayKeyTime("1970-01-01"), dayKeyTime("9999-12-31"))
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
				problem("coverage interval %s ends before it starts (%s)", iv.Start.Format("2006-01-02T15:04:05Z"), iv.End.Format("2006-01-02T15:04:05Z"))
			}
			if i > 0 && iv.Start.Before(coverage[i-1].End) {
				problem("coverage intervals starting %s and %s overlap", coverage[i-1].Start.Format("2006-01-02T15:04:05Z"), iv.Start.Format("2006-01-02T15:04:05Z"))
			}
		}
		return nil
	})
	return r, err
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

func dayKeyTime(s string) time.Time {
	t, _ := parseKeyTime([]byte(s), false)
	return t
}

// Backup writes a consistent copy of the database to w from one read
// transaction: the agent keeps metering and flushing meanwhile.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
