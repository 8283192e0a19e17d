package store

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Flush is one flush's worth of changes. DB.Flush applies all of it or none of it.
type Flush struct {
	// Days holds the completed sessions to add per UTC day.
	Days []DayCount
	// Hours holds per-hour statistics: Peak is max-merged with the stored peak, LiveMillis and
	// SampledMillis are added.
	Hours []HourStat
	// Coverage holds intervals in which metering was on. One that starts in the same second as a stored
	// interval extends it (its End becomes the later of the two); any other is inserted.
	Coverage []Interval
	// Started is the number of sessions started since the previous flush.
	Started uint64
	// Completed is the number of sessions completed since the previous flush, by reason ("idle",
	// "max", "logout", "shutdown"). Its sum must equal the sum of Days.
	Completed map[string]uint64
	// Windows holds the completed sessions to add per 10-minute window (the
	// window in which the agent saw them complete), for the tamper-evident
	// metrics file. Their sum is the sum of Days.
	Windows []WindowCount
	// HourSessions holds the completed sessions to add per UTC hour (the hour
	// of their last request, within the day Days counts them on).
	HourSessions []HourCount
	// Now is the wall-clock time of this flush, stored as the last flush time.
	Now time.Time
	// Seq is the flush's sequence number: exactly the stored one (FlushSeq) plus 1, or the flush is
	// refused with ErrFlushSequence. It is stored in the same transaction as the counts, so a flush
	// whose commit failed can be told applied or not from the file, and is never applied twice.
	Seq uint64
}

// AddDay adds d to f's days, into the entry of the same UTC day if there is one: a flush that gathers
// the counts of many intervals (while flushes fail) grows with the days it covers, not the intervals.
func (f *Flush) AddDay(d DayCount) {
	for i := range f.Days {
		if sameSpan(f.Days[i].Day, d.Day, 24*time.Hour) {
			f.Days[i].Sessions += d.Sessions
			f.Days[i].Bots += d.Bots
			f.Days[i].Unclassified += d.Unclassified
			return
		}
	}
	f.Days = append(f.Days, d)
}

// AddHourSessions adds h to f's hour sessions, into the entry of the same UTC hour if there is one.
func (f *Flush) AddHourSessions(h HourCount) {
	for i := range f.HourSessions {
		if o := &f.HourSessions[i]; sameSpan(o.Hour, h.Hour, time.Hour) {
			o.Sessions += h.Sessions
			o.Bots += h.Bots
			o.Unclassified += h.Unclassified
			return
		}
	}
	f.HourSessions = append(f.HourSessions, h)
}

// AddWindow adds w to f's windows, into the entry of the same 10-minute window if there is one.
func (f *Flush) AddWindow(w WindowCount) {
	for i := range f.Windows {
		if sameSpan(f.Windows[i].Start, w.Start, Window) {
			f.Windows[i].Sessions += w.Sessions
			f.Windows[i].Bots += w.Bots
			f.Windows[i].Unclassified += w.Unclassified
			return
		}
	}
	f.Windows = append(f.Windows, w)
}

// AddHour merges h into f's hours as the store does: into the entry of the same UTC hour if there is
// one, the peak by maximum, the milliseconds by sum.
func (f *Flush) AddHour(h HourStat) {
	for i := range f.Hours {
		if o := &f.Hours[i]; sameSpan(o.Hour, h.Hour, time.Hour) {
			o.Peak = max(o.Peak, h.Peak)
			o.LiveMillis += h.LiveMillis
			o.SampledMillis += h.SampledMillis
			return
		}
	}
	f.Hours = append(f.Hours, h)
}

// AddInterval adds iv to f's coverage: an interval with the same start as the last one replaces it
// (the coverage record reports the interval in progress, growing), any other is appended.
func (f *Flush) AddInterval(iv Interval) {
	if n := len(f.Coverage); n > 0 && f.Coverage[n-1].Start.Equal(iv.Start) {
		f.Coverage[n-1] = iv
		return
	}
	f.Coverage = append(f.Coverage, iv)
}

// sameSpan reports whether a and b fall in the same UTC day, hour or 10-minute window, for d 24h, 1h or
// Window (Truncate counts from a UTC midnight).
func sameSpan(a, b time.Time, d time.Duration) bool {
	return a.Truncate(d).Equal(b.Truncate(d))
}

// Window is the length of the windows the tamper-evident metrics file counts sessions in. Windows start
// at multiples of Window since the Unix epoch.
const Window = 10 * time.Minute

// WindowCount is the number of sessions completed in the 10-minute window that contains Start. Flush
// stores it under the window's start; reads return Start as that start, in UTC.
// Sessions counts every session, Bots and Unclassified their parts as in DayCount.
type WindowCount struct {
	Start        time.Time `json:"start"`
	Sessions     uint64    `json:"sessions"`
	Bots         uint64    `json:"bots"`
	Unclassified uint64    `json:"unclassified"`
}

// DayCount is the number of sessions completed on the UTC day that contains Day. Reads return Day as
// UTC midnight. Sessions counts every session; Bots and Unclassified are the parts of it classified as
// bots and not classified (history from before schema 2, imported history, recovered sessions, starts
// the classifier had no time for); the rest, Human(), were classified as people.
type DayCount struct {
	Day          time.Time `json:"day"`
	Sessions     uint64    `json:"sessions"`
	Bots         uint64    `json:"bots"`
	Unclassified uint64    `json:"unclassified"`
}

// Human returns the sessions of d classified as people.
func (d DayCount) Human() uint64 { return d.Sessions - d.Bots - d.Unclassified }

// HourCount is the number of sessions completed in the UTC hour that contains Hour (the hour of
// their last request), with Bots and Unclassified as in DayCount. Reads return Hour as the UTC start
// of the hour.
type HourCount struct {
	Hour         time.Time `json:"hour"`
	Sessions     uint64    `json:"sessions"`
	Bots         uint64    `json:"bots"`
	Unclassified uint64    `json:"unclassified"`
}

// HourStat is the activity of the UTC hour that contains Hour: the peak number of live sessions, the
// live session time in milliseconds and the time sampled in milliseconds. Reads return Hour as the UTC
// start of the hour.
type HourStat struct {
	Hour          time.Time `json:"hour"`
	Peak          uint64    `json:"peak"`
	LiveMillis    uint64    `json:"live_millis"`
	SampledMillis uint64    `json:"sampled_millis"`
}

// Interval is a span of wall-clock time, stored to the second, with End not before Start.
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Flush applies f in one write transaction and returns the entries it set aside. A malformed f —
// Completed not summing to the sessions in Days, an empty reason — is rejected and nothing is written.
// So is a flush whose Seq is not the stored sequence plus 1, with ErrFlushSequence. An entry that cannot
// be counted where it belongs does not block the rest: a day, window, hour or coverage interval at a
// time outside the years 1970-9999 (a wall clock set far off), an interval ending before it starts, an
// hour whose peak exceeds the sessions ever started or whose samples would exceed the hour, is set
// aside — recorded in the set_aside bucket, where Check shows it — and everything else is applied. A
// flush time outside those years leaves the stored last flush time as it was. A flush with no days,
// hours or coverage still updates the counters, the sequence and the last flush time. An error wrapping
// ErrCommit means the commit failed and the flush may or may not be visible: the next read (FlushSeq)
// tells.
func (db *DB) Flush(f Flush) ([]SetAside, error) {
	completed, err := f.validate()
	if err != nil {
		return nil, fmt.Errorf("%s: flush rejected: %w", db.path, err)
	}
	var aside []SetAside
	err = db.update(func(tx *bbolt.Tx) (err error) {
		aside, err = applyFlush(tx, f, completed)
		return err
	})
	if err != nil && !errors.Is(err, ErrCommit) {
		return nil, err
	}
	return aside, err
}

// applyFlush applies f, validated, which completes completed sessions, in tx, and returns the entries
// it set aside.
func applyFlush(tx *bbolt.Tx, f Flush, completed uint64) ([]SetAside, error) {
	var aside []SetAside
	err := func() error {
		meta := tx.Bucket(bucketMeta)
		stored, err := getUint(meta, keyFlushCount)
		if err != nil {
			return err
		}
		if f.Seq != stored+1 {
			return fmt.Errorf("%w: flush %d, the database holds flush %d", ErrFlushSequence, f.Seq, stored)
		}
		started, err := getUint(meta, keyStartedTotal)
		if err != nil {
			return err
		}
		started += f.Started
		setAside := func(e SetAside) { e.Flush = f.Seq; aside = append(aside, e) }

		days := tx.Bucket(bucketDays)
		for _, d := range f.Days {
			if err := checkStorable("day", d.Day); err != nil {
				setAside(SetAside{Kind: AsideDay, Unix: d.Day.Unix(), Sessions: d.Sessions, Bots: d.Bots,
					Unclassified: d.Unclassified, Why: err.Error()})
				continue
			}
			if err := addClasses(days, bucketDays, dayKey(d.Day), d.Sessions, d.Bots, d.Unclassified); err != nil {
				return err
			}
		}
		if len(f.HourSessions) > 0 {
			hourSessions, err := tx.CreateBucketIfNotExists(bucketHourSessions)
			if err != nil {
				return err
			}
			for _, h := range f.HourSessions {
				if err := checkStorable("hour", h.Hour); err != nil {
					setAside(SetAside{Kind: AsideHourSessions, Unix: h.Hour.Unix(), Sessions: h.Sessions, Bots: h.Bots,
						Unclassified: h.Unclassified, Why: err.Error()})
					continue
				}
				if err := addClasses(hourSessions, bucketHourSessions, hourKey(h.Hour), h.Sessions, h.Bots, h.Unclassified); err != nil {
					return err
				}
			}
		}
		if len(f.Windows) > 0 {
			windows, err := tx.CreateBucketIfNotExists(bucketWindows)
			if err != nil {
				return err
			}
			for _, w := range f.Windows {
				if err := checkStorable("window", w.Start); err != nil {
					setAside(SetAside{Kind: AsideWindow, Unix: w.Start.Unix(), Sessions: w.Sessions, Bots: w.Bots,
						Unclassified: w.Unclassified, Why: err.Error()})
					continue
				}
				if err := addClasses(windows, bucketWindows, encodeSeconds(w.Start.Truncate(Window)), w.Sessions, w.Bots, w.Unclassified); err != nil {
					return err
				}
			}
		}
		hours := tx.Bucket(bucketHours)
		for _, h := range f.Hours {
			why, err := mergeHour(hours, h, started)
			if err != nil {
				return err
			}
			if why != "" {
				setAside(SetAside{Kind: AsideHour, Unix: h.Hour.Unix(), Peak: h.Peak, LiveMillis: h.LiveMillis,
					SampledMillis: h.SampledMillis, Why: why})
			}
		}
		coverage := tx.Bucket(bucketCoverage)
		for _, iv := range f.Coverage {
			if why := intervalProblem(iv); why != "" {
				setAside(SetAside{Kind: AsideCoverage, Unix: iv.Start.Unix(), End: iv.End.Unix(), Why: why})
				continue
			}
			if err := mergeInterval(coverage, iv); err != nil {
				return err
			}
		}

		if err := meta.Put(keyStartedTotal, encodeUint(started)); err != nil {
			return err
		}
		if err := addUint(meta, keyCompletedTotal, completed); err != nil {
			return err
		}
		for reason, n := range f.Completed {
			if n == 0 {
				continue
			}
			if err := addUint(meta, completedReasonKey(reason), n); err != nil {
				return err
			}
		}
		if err := meta.Put(keyFlushCount, encodeUint(f.Seq)); err != nil {
			return err
		}
		if err := checkStorable("flush time", f.Now); err != nil {
			setAside(SetAside{Kind: AsideFlushTime, Unix: f.Now.Unix(), Why: err.Error()})
		} else if err := meta.Put(keyLastFlush, encodeSeconds(f.Now)); err != nil {
			return err
		}
		return recordSetAside(tx, aside)
	}()
	return aside, err
}

// FlushSeq returns the sequence number of the last flush applied (0 if there never was one); the next
// flush must carry FlushSeq()+1. After a failed commit it tells whether that commit is visible.
func (db *DB) FlushSeq() (uint64, error) {
	var seq uint64
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		seq, err = getUint(tx.Bucket(bucketMeta), keyFlushCount)
		return err
	})
	return seq, err
}

// validate checks what makes f malformed as a whole, and returns the number of sessions it completes.
// Entries at impossible times are not its concern: Flush sets them aside.
func (f Flush) validate() (uint64, error) {
	var byDay, byReason uint64
	for _, d := range f.Days {
		if d.Bots > d.Sessions || d.Unclassified > d.Sessions-d.Bots {
			return 0, fmt.Errorf("day %s: %d bots and %d unclassified of %d sessions", d.Day.UTC().Format(dayLayout),
				d.Bots, d.Unclassified, d.Sessions)
		}
		byDay += d.Sessions
	}
	for _, w := range f.Windows {
		if w.Bots > w.Sessions || w.Unclassified > w.Sessions-w.Bots {
			return 0, fmt.Errorf("window %s: %d bots and %d unclassified of %d sessions", w.Start.UTC().Format(time.RFC3339),
				w.Bots, w.Unclassified, w.Sessions)
		}
	}
	for _, h := range f.HourSessions {
		if h.Bots > h.Sessions || h.Unclassified > h.Sessions-h.Bots {
			return 0, fmt.Errorf("hour %s: %d bots and %d unclassified of %d sessions", h.Hour.UTC().Format(time.RFC3339),
				h.Bots, h.Unclassified, h.Sessions)
		}
	}
	for reason, n := range f.Completed {
		if reason == "" {
			return 0, errors.New("completed sessions with an empty reason")
		}
		byReason += n
	}
	if byReason != byDay {
		return 0, fmt.Errorf("%d sessions completed by reason but %d by day", byReason, byDay)
	}
	return byDay, nil
}

// intervalProblem says why iv cannot be stored as coverage, "" if it can.
func intervalProblem(iv Interval) string {
	if err := checkStorable("coverage start", iv.Start); err != nil {
		return err.Error()
	}
	if err := checkStorable("coverage end", iv.End); err != nil {
		return err.Error()
	}
	if iv.End.Before(iv.Start) {
		return fmt.Sprintf("coverage ends at %s before it starts at %s",
			iv.End.UTC().Format(time.RFC3339), iv.Start.UTC().Format(time.RFC3339))
	}
	return ""
}

// mergeHour adds h to the hours bucket: peaks are max-merged, milliseconds are added. It merges nothing
// and says why when h is impossible: its hour cannot be stored, its peak exceeds started (the sessions
// ever started, this flush's included), or the hour would hold more than an hour of samples.
func mergeHour(hours *bbolt.Bucket, h HourStat, started uint64) (why string, err error) {
	if err := checkStorable("hour", h.Hour); err != nil {
		return err.Error(), nil
	}
	if h.Peak > started {
		return fmt.Sprintf("peak %d exceeds the %d sessions ever started", h.Peak, started), nil
	}
	key := hourKey(h.Hour)
	if v := hours.Get(key); v != nil {
		old, err := decodeHour(key, v)
		if err != nil {
			return "", err
		}
		h.Peak = max(h.Peak, old.Peak)
		h.LiveMillis += old.LiveMillis
		h.SampledMillis += old.SampledMillis
	}
	if h.SampledMillis > hourMillis {
		return fmt.Sprintf("the hour would hold %d ms of samples, more than an hour", h.SampledMillis), nil
	}
	return "", hours.Put(key, encodeHour(h))
}

// mergeInterval adds iv to the coverage bucket, extending a stored interval with the same start.
func mergeInterval(coverage *bbolt.Bucket, iv Interval) error {
	key := encodeSeconds(iv.Start)
	end := uint64(iv.End.Unix())
	if v := coverage.Get(key); v != nil {
		old, err := decodeUint(fmt.Sprintf("%s %d", bucketCoverage, iv.Start.Unix()), v)
		if err != nil {
			return err
		}
		end = max(end, old)
	}
	return coverage.Put(key, encodeUint(end))
}

// Recover accounts, once at start-up after a crash, for the sessions that were live when the previous
// process stopped without completing them: started minus completed. It counts them as completed on the
// day of the last flush (of now if there never was one), in its hour and 10-minute window, as
// unclassified sessions (their class was in the lost process's memory), under the reason "recovered",
// and returns how many there were. A second call finds none.
func (db *DB) Recover(now time.Time) (uint64, error) {
	var live uint64
	err := db.update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		started, err := getUint(meta, keyStartedTotal)
		if err != nil {
			return err
		}
		completed, err := getUint(meta, keyCompletedTotal)
		if err != nil {
			return err
		}
		if started <= completed {
			return nil
		}
		live = started - completed

		day, err := getTime(meta, keyLastFlush)
		if err != nil {
			return err
		}
		if day.IsZero() {
			day = now
		}
		if err := checkStorable("recovery day", day); err != nil {
			return err
		}
		if err := addClasses(tx.Bucket(bucketDays), bucketDays, dayKey(day), live, 0, live); err != nil {
			return err
		}
		windows, err := tx.CreateBucketIfNotExists(bucketWindows)
		if err != nil {
			return err
		}
		if err := addClasses(windows, bucketWindows, encodeSeconds(day.Truncate(Window)), live, 0, live); err != nil {
			return err
		}
		hourSessions, err := tx.CreateBucketIfNotExists(bucketHourSessions)
		if err != nil {
			return err
		}
		if err := addClasses(hourSessions, bucketHourSessions, hourKey(day), live, 0, live); err != nil {
			return err
		}
		if err := addUint(meta, keyCompletedTotal, live); err != nil {
			return err
		}
		return addUint(meta, completedReasonKey(reasonRecovered), live)
	})
	if err != nil {
		return 0, err
	}
	return live, nil
}

// SetEnvironment stores env as the environment id unless one is stored already, and returns the id
// stored now: the first start's value wins. An empty env stores nothing.
func (db *DB) SetEnvironment(env string) (string, error) {
	stored := env
	err := db.update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyEnvironment); len(v) > 0 {
			stored = string(v)
			return nil
		}
		if env == "" {
			return nil
		}
		return meta.Put(keyEnvironment, []byte(env))
	})
	if err != nil {
		return "", err
	}
	return stored, nil
}
