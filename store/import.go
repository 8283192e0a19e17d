package store

import (
	"errors"
	"fmt"
	"headcount/internal/plural"
	"time"

	"go.etcd.io/bbolt"
)

// ErrOverlap is returned by Import for a day the database already counts.
var ErrOverlap = errors.New("day already in the database")

// ErrPendingFlushes means an import was refused because the database's pending file holds flushes it
// does not hold yet (see PendingPath).
var ErrPendingFlushes = errors.New("flushes not yet applied")

// Import adds history from another meter, in one transaction: each day's
// sessions are added and the day is marked covered (a coverage interval over
// the whole day). A day that already has sessions, or was imported before,
// is refused with ErrOverlap and nothing is imported, so running the same
// import twice cannot count a day twice; so is a day the agent metered (its
// coverage touches the day), even one without sessions. Days must be
// distinct.
func (db *DB) Import(days []DayCount) error {
	stored, err := db.FlushSeq()
	if err != nil {
		return err
	}
	// A pending file's flushes meter days and coverage the database does not
	// show yet: an import now could add a day they count.
	if seqs, _, err := CheckPending(db.path, stored); err != nil {
		return err
	} else if len(seqs) > 0 {
		what := "a flush"
		if len(seqs) > 1 {
			what = fmt.Sprintf("%d flushes", len(seqs))
		}
		return fmt.Errorf("%s: %w: %s holds %s the database does not hold yet, which may meter the days imported; start the agent once to apply it, then import again",
			db.path, ErrPendingFlushes, PendingPath(db.path), what)
	}
	return db.update(func(tx *bbolt.Tx) error {
		imported, err := tx.CreateBucketIfNotExists(bucketImported)
		if err != nil {
			return err
		}
		dayBucket, coverage, meta := tx.Bucket(bucketDays), tx.Bucket(bucketCoverage), tx.Bucket(bucketMeta)
		covered, err := readCoverage(tx)
		if err != nil {
			return err
		}
		var total uint64
		for _, d := range days {
			day := d.Day.UTC().Truncate(24 * time.Hour)
			if err := checkStorable("imported day", day); err != nil {
				return err
			}
			key := dayKey(day)
			if imported.Get(key) != nil {
				return fmt.Errorf("%w: %s was imported before", ErrOverlap, key)
			}
			var n uint64
			if v := dayBucket.Get(key); v != nil {
				if n, _, _, err = decodeClasses(fmt.Sprintf("%s %q", bucketDays, key), v, SchemaVersion); err != nil {
					return err
				}
			}
			if n > 0 {
				return fmt.Errorf("%w: %s already has %s", ErrOverlap, key, plural.Count(n, "session"))
			}
			for _, iv := range covered {
				if iv.Start.Before(day.Add(24*time.Hour)) && (iv.End.After(day) || iv.Start.Equal(iv.End) && !iv.Start.Before(day)) {
					return fmt.Errorf("%w: %s was metered by the agent", ErrOverlap, key)
				}
			}
			if err := imported.Put(key, encodeUint(d.Sessions)); err != nil {
				return err
			}
			// Another meter's sessions were not classified here.
			if err := addClasses(dayBucket, bucketDays, key, d.Sessions, 0, d.Sessions); err != nil {
				return err
			}
			if err := mergeInterval(coverage, Interval{Start: day, End: day.Add(24 * time.Hour)}); err != nil {
				return err
			}
			total += d.Sessions
		}
		return addUint(meta, keyImportedTotal, total)
	})
}
