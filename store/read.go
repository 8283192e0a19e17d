package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Counters are the running totals kept across flushes.
type Counters struct {
	// Started is the number of sessions the agent started.
	Started uint64
	// Completed is the number of sessions the agent completed, recovered ones included and imported
	// history not.
	Completed uint64
	// CompletedByReason splits Completed by reason, "recovered" included; it is never nil.
	CompletedByReason map[string]uint64
	// LastFlush is the time of the last flush, the zero time if there never was one.
	LastFlush time.Time
	// FlushCount is the number of flushes.
	FlushCount uint64
}

// Environment returns the stored environment id, "" if none is stored.
func (db *DB) Environment() (string, error) {
	var env string
	err := db.view(func(tx *bbolt.Tx) error {
		env = string(tx.Bucket(bucketMeta).Get(keyEnvironment))
		return nil
	})
	return env, err
}

// Days returns the stored counts of the UTC days d with from <= d < to, in ascending order. Days without
// a stored count are absent.
func (db *DB) Days(from, to time.Time) ([]DayCount, error) {
	var days []DayCount
	err := db.view(func(tx *bbolt.Tx) (err error) {
		days, err = readDays(tx, from, to)
		return err
	})
	return days, err
}

// readDays returns the stored days d with from <= d < to in ascending order, nil when there are none.
func readDays(tx *bbolt.Tx, from, to time.Time) ([]DayCount, error) {
	days := make([]DayCount, 0, min(max(to.Sub(from)/(24*time.Hour), 0), 1<<16))
	schema := fileSchema(tx)
	c := tx.Bucket(bucketDays).Cursor()
	for k, v := c.Seek(dayKey(from)); k != nil; k, v = c.Next() {
		day, ok := parseKeyTime(k, false)
		if !ok {
			return nil, fmt.Errorf("%w: %s key %q", ErrCorrupt, bucketDays, k)
		}
		if !day.Before(to) {
			break
		}
		if day.Before(from) {
			continue
		}
		n, bots, unclassified, err := decodeClasses(fmt.Sprintf("%s %q", bucketDays, k), v, schema)
		if err != nil {
			return nil, err
		}
		days = append(days, DayCount{Day: day, Sessions: n, Bots: bots, Unclassified: unclassified})
	}
	if len(days) == 0 {
		return nil, nil
	}
	return days, nil
}

// Hours returns the stored statistics of the UTC hours h with from <= h < to, in ascending order. Hours
// without stored statistics are absent.
func (db *DB) Hours(from, to time.Time) ([]HourStat, error) {
	var hours []HourStat
	err := db.view(func(tx *bbolt.Tx) (err error) {
		hours, err = readHours(tx, from, to)
		return err
	})
	return hours, err
}

// readHours returns the stored hours h with from <= h < to in ascending order, nil when there are none.
func readHours(tx *bbolt.Tx, from, to time.Time) ([]HourStat, error) {
	hours := make([]HourStat, 0, min(max(to.Sub(from)/time.Hour, 0), 1<<20))
	c := tx.Bucket(bucketHours).Cursor()
	for k, v := c.Seek(hourKey(from)); k != nil; k, v = c.Next() {
		h, err := decodeHour(k, v)
		if err != nil {
			return nil, err
		}
		if !h.Hour.Before(to) {
			break
		}
		if h.Hour.Before(from) {
			continue
		}
		hours = append(hours, h)
	}
	if len(hours) == 0 {
		return nil, nil
	}
	return hours, nil
}

// Coverage returns every stored coverage interval in ascending order of Start.
func (db *DB) Coverage() ([]Interval, error) {
	var coverage []Interval
	err := db.view(func(tx *bbolt.Tx) (err error) {
		coverage, err = readCoverage(tx)
		return err
	})
	return coverage, err
}

// readCoverage returns every stored coverage interval in ascending order of Start.
func readCoverage(tx *bbolt.Tx) ([]Interval, error) {
	var coverage []Interval
	err := tx.Bucket(bucketCoverage).ForEach(func(k, v []byte) error {
		if len(k) != uintValueSize {
			return fmt.Errorf("%w: %s key of %d bytes, want %d", ErrCorrupt, bucketCoverage, len(k), uintValueSize)
		}
		start := time.Unix(int64(binary.BigEndian.Uint64(k)), 0).UTC()
		end, err := decodeSeconds(fmt.Sprintf("%s %d", bucketCoverage, start.Unix()), v)
		if err != nil {
			return err
		}
		coverage = append(coverage, Interval{Start: start, End: end})
		return nil
	})
	return coverage, err
}

// Snapshot is what a report of the days from <= d < to reads, taken in one
// read transaction so that its parts agree.
type Snapshot struct {
	Environment string     `json:"environment"`
	Days        []DayCount `json:"days"`
	Hours       []HourStat `json:"hours"` // only when asked for
	// HourSessions holds the sessions completed per hour, for the hours that recorded them; only when
	// hours are asked for.
	HourSessions []HourCount   `json:"hour_sessions"`
	Windows      []WindowCount `json:"windows"`  // only when asked for
	Coverage     []Interval    `json:"coverage"` // the intervals that reach into the range
	// Imported holds the UTC days of the range imported from another meter (Import), whose coverage is
	// the whole day with no windows and no hour statistics in it; only when windows or hours are asked
	// for.
	Imported []time.Time `json:"imported,omitempty"`
}

// Parts says which optional parts a Snapshot reads.
type Parts struct{ Hours, Windows bool }

// Snapshot reads the environment, the days and coverage of [from, to), and
// the hour statistics and 10-minute windows when parts asks for them.
func (db *DB) Snapshot(from, to time.Time, parts Parts) (Snapshot, error) {
	var s Snapshot
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		s.Environment = string(tx.Bucket(bucketMeta).Get(keyEnvironment))
		if s.Days, err = readDays(tx, from, to); err != nil {
			return err
		}
		if parts.Hours || parts.Windows {
			if s.Imported, err = readImported(tx, from, to); err != nil {
				return err
			}
		}
		if parts.Hours {
			if s.Hours, err = readHours(tx, from, to); err != nil {
				return err
			}
			if s.HourSessions, err = readHourSessions(tx, from, to); err != nil {
				return err
			}
		}
		if parts.Windows {
			if s.Windows, err = readWindows(tx, from, to); err != nil {
				return err
			}
		}
		all, err := readCoverage(tx)
		for _, iv := range all {
			if iv.Start.Before(to) && !iv.End.Before(from) {
				s.Coverage = append(s.Coverage, iv)
			}
		}
		return err
	})
	return s, err
}

// Counters returns the running totals.
func (db *DB) Counters() (Counters, error) {
	counters := Counters{CompletedByReason: map[string]uint64{}}
	err := db.view(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var err error
		if counters.Started, err = getUint(meta, keyStartedTotal); err != nil {
			return err
		}
		if counters.Completed, err = getUint(meta, keyCompletedTotal); err != nil {
			return err
		}
		if counters.FlushCount, err = getUint(meta, keyFlushCount); err != nil {
			return err
		}
		if counters.LastFlush, err = getTime(meta, keyLastFlush); err != nil {
			return err
		}
		c := meta.Cursor()
		prefix := []byte(keyCompletedReasonPrefix)
		for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
			n, err := decodeUint(fmt.Sprintf("key %q", k), v)
			if err != nil {
				return err
			}
			counters.CompletedByReason[strings.TrimPrefix(string(k), keyCompletedReasonPrefix)] = n
		}
		return nil
	})
	if err != nil {
		return Counters{}, err
	}
	return counters, nil
}

// CompletedTotal returns the number of sessions the agent completed, ever, recovered ones included;
// imported history is not in it. It equals Counters().Completed.
func (db *DB) CompletedTotal() (uint64, error) {
	var n uint64
	err := db.view(func(tx *bbolt.Tx) (err error) {
		n, err = getUint(tx.Bucket(bucketMeta), keyCompletedTotal)
		return err
	})
	return n, err
}

// FirstCovered returns the start of the earliest coverage interval (imported days included), and false
// when there is none.
func (db *DB) FirstCovered() (time.Time, bool, error) {
	var first time.Time
	var ok bool
	err := db.view(func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bucketCoverage).Cursor().First()
		if k == nil {
			return nil
		}
		if len(k) != uintValueSize {
			return fmt.Errorf("%w: %s key of %d bytes, want %d", ErrCorrupt, bucketCoverage, len(k), uintValueSize)
		}
		first, ok = time.Unix(int64(binary.BigEndian.Uint64(k)), 0).UTC(), true
		return nil
	})
	return first, ok, err
}

// readWindows returns the stored windows starting in [from, to), in ascending order; none when the
// windows bucket does not exist yet.
func readWindows(tx *bbolt.Tx, from, to time.Time) ([]WindowCount, error) {
	b := tx.Bucket(bucketWindows)
	if b == nil {
		return nil, nil
	}
	if first, _ := storableRange(); from.Before(first) {
		from = first // encodeSeconds cannot encode a time before 1970
	}
	var out []WindowCount
	c := b.Cursor()
	for k, v := c.Seek(encodeSeconds(from)); k != nil; k, v = c.Next() {
		start, err := decodeSeconds(fmt.Sprintf("%s key", bucketWindows), k)
		if err != nil {
			return nil, err
		}
		if !start.Before(to) {
			break
		}
		n, bots, unclassified, err := decodeClasses(fmt.Sprintf("%s %d", bucketWindows, start.Unix()), v, fileSchema(tx))
		if err != nil {
			return nil, err
		}
		out = append(out, WindowCount{Start: start, Sessions: n, Bots: bots, Unclassified: unclassified})
	}
	return out, nil
}

// readImported returns the imported days d with from <= d < to in ascending order; none when nothing
// was ever imported.
func readImported(tx *bbolt.Tx, from, to time.Time) ([]time.Time, error) {
	b := tx.Bucket(bucketImported)
	if b == nil {
		return nil, nil
	}
	var days []time.Time
	c := b.Cursor()
	for k, _ := c.Seek(dayKey(from)); k != nil; k, _ = c.Next() {
		day, ok := parseKeyTime(k, false)
		if !ok {
			return nil, fmt.Errorf("%w: %s key %q", ErrCorrupt, bucketImported, k)
		}
		if !day.Before(to) {
			break
		}
		if !day.Before(from) {
			days = append(days, day)
		}
	}
	return days, nil
}

// readHourSessions returns the stored sessions of the hours h with from <= h < to in ascending order;
// none when the hour_sessions bucket does not exist (before schema 2 or before the first flush).
func readHourSessions(tx *bbolt.Tx, from, to time.Time) ([]HourCount, error) {
	b := tx.Bucket(bucketHourSessions)
	if b == nil {
		return nil, nil
	}
	var out []HourCount
	c := b.Cursor()
	for k, v := c.Seek(hourKey(from)); k != nil; k, v = c.Next() {
		hour, ok := parseKeyTime(k, true)
		if !ok {
			return nil, fmt.Errorf("%w: %s key %q", ErrCorrupt, bucketHourSessions, k)
		}
		if !hour.Before(to) {
			break
		}
		if hour.Before(from) {
			continue
		}
		n, bots, unclassified, err := decodeClasses(fmt.Sprintf("%s %q", bucketHourSessions, k), v, fileSchema(tx))
		if err != nil {
			return nil, err
		}
		out = append(out, HourCount{Hour: hour, Sessions: n, Bots: bots, Unclassified: unclassified})
	}
	return out, nil
}
