package store

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// ErrOverlap is returned by Import for a day the database already counts.
var ErrOverlap = errors.New("day already in the database")

// Import adds history from another meter, in one transaction: each day's
// sessions are added and the day is marked covered (a coverage interval over
// the whole day). A day that already has sessions, or was imported before,
// is refused with ErrOverlap and nothing is imported, so running the same
// import twice cannot count a day twice; so is a day the agent metered (its
// coverage touches the day), even one without sessions. Days must be
// distinct.
func (db *DB) Import(days []DayCount) error {
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
			if n, err := getUint(dayBucket, key); err != nil {
				return err
			} else if n > 0 {
				return fmt.Errorf("%w: %s already has %d sessions", ErrOverlap, key, n)
			}
			for _, iv := range covered {
				if iv.Start.Before(day.Add(24*time.Hour)) && (iv.End.After(day) || iv.Start.Equal(iv.End) && !iv.Start.Before(day)) {
					return fmt.Errorf("%w: %s was metered by the agent", ErrOverlap, key)
				}
			}
			if err := imported.Put(key, encodeUint(d.Sessions)); err != nil {
				return err
			}
			if err := addUint(dayBucket, key, d.Sessions); err != nil {
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

// EntitlementState returns the entitlement checker's persisted state (a JSON
// document the store does not interpret), nil if none was stored.
func (db *DB) EntitlementState() ([]byte, error) { return db.metaBlob(keyEntitlement) }

// SetEntitlementState stores the entitlement checker's state.
func (db *DB) SetEntitlementState(state []byte) error { return db.setMetaBlob(keyEntitlement, state) }

// metaBlob returns a copy of the meta value under key, nil if there is none.
func (db *DB) metaBlob(key []byte) ([]byte, error) {
	var v []byte
	err := db.view(func(tx *bbolt.Tx) error {
		v = append([]byte(nil), tx.Bucket(bucketMeta).Get(key)...)
		return nil
	})
	if len(v) == 0 {
		v = nil
	}
	return v, err
}

func (db *DB) setMetaBlob(key, value []byte) error {
	return db.update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(key, value) })
}

// UsageState returns the usage transmitter's persisted state (a JSON
// document the store does not interpret), nil if none was stored.
func (db *DB) UsageState() ([]byte, error) { return db.metaBlob(keyUsageTransmission) }

// SetUsageState stores the usage transmitter's state.
func (db *DB) SetUsageState(state []byte) error { return db.setMetaBlob(keyUsageTransmission, state) }

// CompletedTotal returns the number of sessions the agent completed, ever
// (completed_total; imported history is not in it).
func (db *DB) CompletedTotal() (uint64, error) {
	var n uint64
	err := db.view(func(tx *bbolt.Tx) (err error) {
		n, err = getUint(tx.Bucket(bucketMeta), keyCompletedTotal)
		return err
	})
	return n, err
}

// Windows returns the sessions completed per 10-minute window in [from, to),
// in order; windows without a stored count are absent.
func (db *DB) Windows(from, to time.Time) ([]WindowCount, error) {
	var out []WindowCount
	err := db.view(func(tx *bbolt.Tx) (err error) {
		out, err = readWindows(tx, from, to)
		return err
	})
	return out, err
}

func readWindows(tx *bbolt.Tx, from, to time.Time) ([]WindowCount, error) {
	var out []WindowCount
	err := func() error {
		b := tx.Bucket(bucketWindows)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(encodeSeconds(from)); k != nil; k, v = c.Next() {
			start, err := decodeSeconds(fmt.Sprintf("%s key", bucketWindows), k)
			if err != nil {
				return err
			}
			if !start.Before(to) {
				break
			}
			n, err := decodeUint(fmt.Sprintf("%s %d", bucketWindows, start.Unix()), v)
			if err != nil {
				return err
			}
			out = append(out, WindowCount{Start: start, Sessions: n})
		}
		return nil
	}()
	return out, err
}
