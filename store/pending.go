package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"headcount/internal/atomicfile"
)

// The pending file is the second path a flush's counts take when the database cannot be written: the
// agent writes every flush not known to be in the database to PendingPath (the database's path plus
// ".pending"), and the next start applies them (ApplyPending) before anything else. Each flush keeps
// its sequence number, so one that reached the database after all is skipped, never applied twice. It
// holds what a Flush holds — counts and times, never a client's address, header or key.

// pendingFormat names the pending file's format; a file with another value is refused, but for
// pendingFormat1, written by builds of schema 1, whose rows of days and windows hold the sessions only
// (read as unclassified: those builds classified nothing).
const (
	pendingFormat  = "headcount pending flushes 2"
	pendingFormat1 = "headcount pending flushes 1"
)

// pendingFile is the JSON document of a pending file.
type pendingFile struct {
	Format  string         `json:"format"`
	Flushes []pendingFlush `json:"flushes"`
}

// pendingFlush is a Flush with its times in Unix seconds (the store keeps no finer time), so that any
// time — also one outside the years JSON's time encoding accepts — is written as it was.
type pendingFlush struct {
	Seq       uint64            `json:"seq"`
	Now       int64             `json:"now"`
	Started   uint64            `json:"started"`
	Completed map[string]uint64 `json:"completed"`
	Days      [][]int64         `json:"days"`     // [day, sessions, bots, unclassified]; format 1: [day, sessions]
	Windows   [][]int64         `json:"windows"`  // [window start, sessions, bots, unclassified]; format 1: [start, sessions]
	Hours     [][4]int64        `json:"hours"`    // [hour, peak, live ms, sampled ms]
	Coverage  [][2]int64        `json:"coverage"` // [start, end]
	// HourSessions: [hour, sessions, bots, unclassified]; none in format 1.
	HourSessions [][]int64 `json:"hour_sessions,omitempty"`
}

// PendingPath returns the path of the pending file of the database at path.
func PendingPath(path string) string { return path + ".pending" }

// WritePending replaces the pending file of the database at path with flushes, in sequence order,
// synced to disk with its directory before it returns. An empty list removes the file.
func WritePending(path string, flushes []Flush) error {
	if len(flushes) == 0 {
		return RemovePending(path)
	}
	doc := pendingFile{Format: pendingFormat}
	for _, f := range flushes {
		doc.Flushes = append(doc.Flushes, toPending(f))
	}
	pending := PendingPath(path)
	err := atomicfile.Write(pending, 0o600, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(doc)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", pending, err)
	}
	return syncDir(filepath.Dir(pending))
}

// RemovePending removes the pending file of the database at path, if there is one.
func RemovePending(path string) error {
	err := os.Remove(PendingPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// ReadPending returns the flushes of the pending file of the database at path, none if there is no
// such file.
func ReadPending(path string) ([]Flush, error) {
	pending := PendingPath(path)
	data, err := os.ReadFile(pending)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc pendingFile
	err = json.Unmarshal(data, &doc)
	out := make([]Flush, len(doc.Flushes))
	for i, p := range doc.Flushes {
		if err == nil {
			out[i], err = fromPending(p, doc.Format == pendingFormat1)
		}
	}
	if err != nil || doc.Format != pendingFormat && doc.Format != pendingFormat1 {
		return nil, fmt.Errorf("%s is not a headcount pending file, or is damaged: move it aside to go on without it (the counts it holds are then not applied; keep it for the vendor)", pending)
	}
	return out, nil
}

// ApplyPending applies the database's pending file, if any: each flush the database does not hold yet
// (its Seq is the stored sequence plus 1) is applied, each it holds already (Seq not above the stored
// one) is skipped, and the file is then removed (if that fails, the file is left: it is harmless). It returns the sequence numbers applied and the
// entries set aside. A flush further ahead than the next one means the pending file belongs to another
// copy of the database (a file restored from a backup, say): nothing is applied and the error, wrapping
// ErrFlushSequence, says so.
func (db *DB) ApplyPending() (applied []uint64, aside []SetAside, err error) {
	flushes, err := ReadPending(db.path)
	if err != nil || len(flushes) == 0 {
		return nil, nil, err
	}
	stored, err := db.FlushSeq()
	if err != nil {
		return nil, nil, err
	}
	for _, f := range flushes {
		if f.Seq <= stored {
			continue
		}
		if f.Seq != stored+1 {
			return applied, aside, fmt.Errorf("%w: %s holds flush %d but the database holds flush %d: the pending file is not this database's; move it aside to start without it (its counts are then not applied)",
				ErrFlushSequence, PendingPath(db.path), f.Seq, stored)
		}
		a, err := db.Flush(f)
		if err != nil {
			return applied, aside, err
		}
		aside = append(aside, a...)
		applied = append(applied, f.Seq)
		stored = f.Seq
	}
	// A file left behind is harmless: every flush it holds is now skipped.
	_ = RemovePending(db.path)
	return applied, aside, nil
}

func toPending(f Flush) pendingFlush {
	p := pendingFlush{Seq: f.Seq, Now: f.Now.Unix(), Started: f.Started, Completed: f.Completed}
	for _, d := range f.Days {
		p.Days = append(p.Days, []int64{d.Day.Unix(), int64(d.Sessions), int64(d.Bots), int64(d.Unclassified)})
	}
	for _, w := range f.Windows {
		p.Windows = append(p.Windows, []int64{w.Start.Unix(), int64(w.Sessions), int64(w.Bots), int64(w.Unclassified)})
	}
	for _, h := range f.HourSessions {
		p.HourSessions = append(p.HourSessions, []int64{h.Hour.Unix(), int64(h.Sessions), int64(h.Bots), int64(h.Unclassified)})
	}
	for _, h := range f.Hours {
		p.Hours = append(p.Hours, [4]int64{h.Hour.Unix(), int64(h.Peak), int64(h.LiveMillis), int64(h.SampledMillis)})
	}
	for _, iv := range f.Coverage {
		p.Coverage = append(p.Coverage, [2]int64{iv.Start.Unix(), iv.End.Unix()})
	}
	return p
}

// fromPending returns the Flush of p; format1 says p's rows hold sessions only.
func fromPending(p pendingFlush, format1 bool) (Flush, error) {
	at := func(s int64) time.Time { return time.Unix(s, 0).UTC() }
	f := Flush{Seq: p.Seq, Now: at(p.Now), Started: p.Started, Completed: p.Completed}
	if f.Completed == nil {
		f.Completed = map[string]uint64{}
	}
	// counts returns a row's time and its sessions, bots and unclassified ones.
	counts := func(row []int64) (time.Time, uint64, uint64, uint64, error) {
		switch {
		case format1 && len(row) == 2:
			return at(row[0]), uint64(row[1]), 0, uint64(row[1]), nil
		case !format1 && len(row) == 4:
			return at(row[0]), uint64(row[1]), uint64(row[2]), uint64(row[3]), nil
		}
		return time.Time{}, 0, 0, 0, fmt.Errorf("a row of %d numbers", len(row))
	}
	for _, d := range p.Days {
		day, n, bots, unclassified, err := counts(d)
		if err != nil {
			return f, err
		}
		f.Days = append(f.Days, DayCount{Day: day, Sessions: n, Bots: bots, Unclassified: unclassified})
	}
	for _, w := range p.Windows {
		start, n, bots, unclassified, err := counts(w)
		if err != nil {
			return f, err
		}
		f.Windows = append(f.Windows, WindowCount{Start: start, Sessions: n, Bots: bots, Unclassified: unclassified})
	}
	for _, h := range p.HourSessions {
		if format1 || len(h) != 4 {
			return f, fmt.Errorf("an hour row of %d numbers", len(h))
		}
		f.HourSessions = append(f.HourSessions, HourCount{Hour: at(h[0]), Sessions: uint64(h[1]), Bots: uint64(h[2]), Unclassified: uint64(h[3])})
	}
	for _, h := range p.Hours {
		f.Hours = append(f.Hours, HourStat{Hour: at(h[0]), Peak: uint64(h[1]), LiveMillis: uint64(h[2]), SampledMillis: uint64(h[3])})
	}
	for _, iv := range p.Coverage {
		f.Coverage = append(f.Coverage, Interval{Start: at(iv[0]), End: at(iv[1])})
	}
	return f, nil
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
