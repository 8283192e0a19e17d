package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// ReplayState is what log replay records for its next run over the same logs: how far it settled,
// the sessions stored on the days a next run may add to, and per log file where to read on. It holds
// times, counts, file names, identities, sizes and offsets: never anything of a line.
type ReplayState struct {
	// Settled is the settled point of the last run: every session ending at or before it is counted,
	// none ending after it.
	Settled time.Time `json:"settled"`
	// Open is the start of the coverage interval stored up to Settled that the next run continues, zero
	// if none.
	Open time.Time `json:"open"`
	// Days holds the sessions stored, after the run, on Settled's UTC day and the day before: the days
	// a next run adds to (a session ending after Settled counts on the day of its last request, at most
	// an idle timeout earlier). ReplayFlush fills it.
	Days []DayCount `json:"days"`
	// Files holds the log files read.
	Files []ReplayFile `json:"files"`
	// IdleTimeout and MaxSession are the session rules the run counted with: a next run with others
	// would end elsewhere the sessions this one ended, and count them twice or not at all. Zero in a
	// state stored before they were kept.
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
	MaxSession  time.Duration `json:"max_session,omitempty"`
}

// ReplayFile is a log file a replay read.
type ReplayFile struct {
	// Name is the file's name as given ("-" for stdin).
	Name string `json:"name"`
	// Device and Inode identify the file (0 for stdin).
	Device uint64 `json:"device"`
	Inode  uint64 `json:"inode"`
	// Size is the file's size when read.
	Size int64 `json:"size"`
	// Offset is where in the file's stream (decompressed, for a gzipped file) the next run reads from;
	// Line is the number of lines before it.
	Offset int64  `json:"offset"`
	Line   uint64 `json:"line"`
}

// ReplayState returns the replay state stored by the last ReplayFlush, and false if there is none.
func (db *DB) ReplayState() (ReplayState, bool, error) {
	var st ReplayState
	found := false
	err := db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketReplay)
		if b == nil {
			return nil
		}
		v := b.Get(keyReplayState)
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrCorrupt, bucketReplay, keyReplayState, err)
		}
		found = true
		return nil
	})
	return st, found, err
}

// ReplayFlush applies, in one write transaction, what a replay run counted: it first empties the UTC
// days of replace, if any (their sessions, sessions by hour, windows and hour statistics, and the
// coverage within them, cut at their bounds), then applies f as Flush does and stores st, its Days
// filled from the days stored then, as the replay state. All of it lands or none of it. The sessions
// removed from replaced days are added to the meta counter replaced_total, so that Check's sums hold.
func (db *DB) ReplayFlush(f Flush, st ReplayState, replace []time.Time) ([]SetAside, error) {
	completed, err := f.validate()
	if err != nil {
		return nil, fmt.Errorf("%s: flush rejected: %w", db.path, err)
	}
	var aside []SetAside
	err = db.update(func(tx *bbolt.Tx) error {
		for _, d := range replace {
			if err := emptyDay(tx, d.UTC().Truncate(24*time.Hour)); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		stored, err := getUint(meta, keyFlushCount)
		if err != nil {
			return err
		}
		if f.Seq == 0 {
			f.Seq = stored + 1
		}
		if aside, err = applyFlush(tx, f, completed); err != nil {
			return err
		}
		st.Days = nil
		if !st.Settled.IsZero() {
			day := st.Settled.UTC().Truncate(24 * time.Hour)
			days, err := readDays(tx, day.Add(-24*time.Hour), day.Add(24*time.Hour))
			if err != nil {
				return err
			}
			st.Days = days
		}
		v, err := json.Marshal(st)
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketReplay)
		if err != nil {
			return err
		}
		return b.Put(keyReplayState, v)
	})
	if err != nil && !errors.Is(err, ErrCommit) {
		return nil, err
	}
	return aside, err
}

// emptyDay removes from tx everything counted on the UTC day that starts at day: its sessions (added to
// replaced_total), sessions by hour, windows and hour statistics, and the coverage within it.
func emptyDay(tx *bbolt.Tx, day time.Time) error {
	end := day.Add(24 * time.Hour)
	meta := tx.Bucket(bucketMeta)
	days := tx.Bucket(bucketDays)
	if v := days.Get(dayKey(day)); v != nil {
		n, _, _, err := decodeClasses(fmt.Sprintf("%s %q", bucketDays, dayKey(day)), v, SchemaVersion)
		if err != nil {
			return err
		}
		if err := days.Delete(dayKey(day)); err != nil {
			return err
		}
		if err := addUint(meta, keyReplacedTotal, n); err != nil {
			return err
		}
	}
	for h := day; h.Before(end); h = h.Add(time.Hour) {
		if err := tx.Bucket(bucketHours).Delete(hourKey(h)); err != nil {
			return err
		}
		if b := tx.Bucket(bucketHourSessions); b != nil {
			if err := b.Delete(hourKey(h)); err != nil {
				return err
			}
		}
	}
	if b := tx.Bucket(bucketWindows); b != nil {
		for w := day; w.Before(end); w = w.Add(Window) {
			if err := b.Delete(encodeSeconds(w)); err != nil {
				return err
			}
		}
	}
	coverage, err := readCoverage(tx)
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketCoverage)
	for _, iv := range coverage {
		if !iv.Start.Before(end) || !iv.End.After(day) {
			continue
		}
		if err := b.Delete(encodeSeconds(iv.Start)); err != nil {
			return err
		}
		if iv.Start.Before(day) {
			if err := b.Put(encodeSeconds(iv.Start), encodeSeconds(day)); err != nil {
				return err
			}
		}
		if iv.End.After(end) {
			if err := mergeInterval(b, Interval{Start: end, End: iv.End}); err != nil {
				return err
			}
		}
	}
	return nil
}
