package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"headcount/internal/plural"
	"time"

	"go.etcd.io/bbolt"
)

// hourMillis is the length of an hour in milliseconds: no hour holds more samples.
const hourMillis = uint64(time.Hour / time.Millisecond)

// Kinds of SetAside entries: what the entry would have been added to.
const (
	AsideDay          = "day"           // sessions completed on a day
	AsideWindow       = "window"        // sessions completed in a 10-minute window
	AsideHour         = "hour"          // an hour's live-session statistics
	AsideHourSessions = "hour sessions" // sessions completed in an hour
	AsideCoverage     = "coverage"      // an interval in which metering was on
	AsideFlushTime    = "flush time"    // the time of the flush itself
)

// SetAside is an entry of a flush that the store could not count where it belongs, and recorded apart
// instead of refusing the whole flush (see Flush). The sessions of a day set aside are in
// completed_total but in no day: Check accounts for them and lists every entry.
type SetAside struct {
	Flush         uint64 `json:"flush"`                    // the sequence number of the flush that carried it
	Kind          string `json:"kind"`                     // AsideDay, AsideWindow, ...
	Unix          int64  `json:"unix"`                     // its time (start), in Unix seconds, possibly outside 1970-9999
	End           int64  `json:"end,omitempty"`            // AsideCoverage: the interval's end, in Unix seconds
	Sessions      uint64 `json:"sessions,omitempty"`       // AsideDay, AsideWindow, AsideHourSessions: the sessions
	Bots          uint64 `json:"bots,omitempty"`           // the part of Sessions classified as bots
	Unclassified  uint64 `json:"unclassified,omitempty"`   // the part of Sessions not classified
	Peak          uint64 `json:"peak,omitempty"`           // AsideHour: the statistics set aside
	LiveMillis    uint64 `json:"live_millis,omitempty"`    // AsideHour
	SampledMillis uint64 `json:"sampled_millis,omitempty"` // AsideHour
	Why           string `json:"why"`                      // why it could not be stored
}

// String describes e in one line, for logs and Check.
func (e SetAside) String() string {
	at := time.Unix(e.Unix, 0).UTC().Format(time.RFC3339)
	switch e.Kind {
	case AsideDay, AsideWindow, AsideHourSessions:
		return fmt.Sprintf("flush %d: %s of %s with %s: %s", e.Flush, e.Kind, at, plural.Count(e.Sessions, "session"), e.Why)
	case AsideHour:
		return fmt.Sprintf("flush %d: hour of %s (peak %d, %d ms live, %d ms sampled): %s",
			e.Flush, at, e.Peak, e.LiveMillis, e.SampledMillis, e.Why)
	case AsideCoverage:
		return fmt.Sprintf("flush %d: coverage %s to %s: %s", e.Flush, at, time.Unix(e.End, 0).UTC().Format(time.RFC3339), e.Why)
	default:
		return fmt.Sprintf("flush %d: %s %s: %s", e.Flush, e.Kind, at, e.Why)
	}
}

// recordSetAside stores the entries of one flush in bucketSetAside and adds the sessions of its days to
// keySetAsideTotal.
func recordSetAside(tx *bbolt.Tx, entries []SetAside) error {
	if len(entries) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketSetAside)
	if err != nil {
		return err
	}
	var sessions uint64
	for i, e := range entries {
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		key := binary.BigEndian.AppendUint32(encodeUint(e.Flush), uint32(i))
		if err := b.Put(key, v); err != nil {
			return err
		}
		if e.Kind == AsideDay {
			sessions += e.Sessions
		}
	}
	return addUint(tx.Bucket(bucketMeta), keySetAsideTotal, sessions)
}

// readSetAside returns every entry of bucketSetAside, in the order of the flushes.
func readSetAside(tx *bbolt.Tx) ([]SetAside, error) {
	b := tx.Bucket(bucketSetAside)
	if b == nil {
		return nil, nil
	}
	var out []SetAside
	err := b.ForEach(func(k, v []byte) error {
		var e SetAside
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("%w: %s entry %x: %v", ErrCorrupt, bucketSetAside, k, err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}
