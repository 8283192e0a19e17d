package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// dayKey returns the days key of the UTC day containing t.
func dayKey(t time.Time) []byte { return []byte(t.UTC().Format(dayLayout)) }

// hourKey returns the hours key of the UTC hour containing t.
func hourKey(t time.Time) []byte { return []byte(t.UTC().Format(hourLayout)) }

// encodeSeconds returns t's Unix seconds as an 8-byte big-endian value; t must not precede 1970.
func encodeSeconds(t time.Time) []byte { return encodeUint(uint64(t.Unix())) }

// completedReasonKey returns the meta key counting sessions completed for reason.
func completedReasonKey(reason string) []byte { return []byte(keyCompletedReasonPrefix + reason) }

// storableRange returns the span of times that can be stored: from the start of firstStorableYear to the
// end of lastStorableYear, UTC.
func storableRange() (from, to time.Time) {
	return time.Date(firstStorableYear, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(lastStorableYear+1, 1, 1, 0, 0, 0, 0, time.UTC)
}

// checkStorable reports an error unless t can be stored with keys that sort chronologically.
func checkStorable(what string, t time.Time) error {
	if y := t.UTC().Year(); y < firstStorableYear || y > lastStorableYear {
		return fmt.Errorf("%s %s is outside the years %d-%d", what, t.UTC().Format(time.RFC3339),
			firstStorableYear, lastStorableYear)
	}
	return nil
}

// encodeUint returns v as 8 bytes, big-endian, so that encoded values sort in numeric order.
func encodeUint(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// decodeUint decodes an 8-byte value; what names it in the error.
func decodeUint(what string, v []byte) (uint64, error) {
	if len(v) != uintValueSize {
		return 0, fmt.Errorf("%w: %s holds %d bytes, want %d", ErrCorrupt, what, len(v), uintValueSize)
	}
	return binary.BigEndian.Uint64(v), nil
}

// decodeSeconds decodes an 8-byte Unix-seconds value; what names it in the error.
func decodeSeconds(what string, v []byte) (time.Time, error) {
	s, err := decodeUint(what, v)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(int64(s), 0).UTC(), nil
}

// encodeClasses returns the classValueSize-byte value of sessions of which bots are bots and
// unclassified not classified; the caller has checked that bots+unclassified <= sessions.
func encodeClasses(sessions, bots, unclassified uint64) []byte {
	v := make([]byte, 0, classValueSize)
	v = binary.BigEndian.AppendUint64(v, sessions-bots-unclassified)
	v = binary.BigEndian.AppendUint64(v, bots)
	return binary.BigEndian.AppendUint64(v, unclassified)
}

// decodeClasses decodes a value of counts by class into all sessions, bots and unclassified ones. In a
// schema-1 file the value is one 8-byte count of unclassified sessions. what names the value in the
// error.
func decodeClasses(what string, v []byte, schema uint64) (sessions, bots, unclassified uint64, err error) {
	switch {
	case schema == 1 && len(v) == uintValueSize:
		n := binary.BigEndian.Uint64(v)
		return n, 0, n, nil
	case schema > 1 && len(v) == classValueSize:
		human, bots, unclassified := binary.BigEndian.Uint64(v[0:8]), binary.BigEndian.Uint64(v[8:16]), binary.BigEndian.Uint64(v[16:24])
		sessions = human + bots + unclassified
		if sessions < human || sessions-human < bots { // a sum past 2^64-1
			return 0, 0, 0, fmt.Errorf("%w: %s counts %d, %d and %d sessions, more than 2^64-1", ErrCorrupt, what, human, bots, unclassified)
		}
		return sessions, bots, unclassified, nil
	}
	want := classValueSize
	if schema == 1 {
		want = uintValueSize
	}
	return 0, 0, 0, fmt.Errorf("%w: %s holds %d bytes, want %d", ErrCorrupt, what, len(v), want)
}

// addClasses adds sessions, of which bots are bots and unclassified not classified, to the counts by
// class stored under key in b (a schema-2 bucket).
func addClasses(b *bbolt.Bucket, name, key []byte, sessions, bots, unclassified uint64) error {
	var oldSessions, oldBots, oldUnclassified uint64
	if v := b.Get(key); v != nil {
		var err error
		if oldSessions, oldBots, oldUnclassified, err = decodeClasses(fmt.Sprintf("%s %q", name, key), v, SchemaVersion); err != nil {
			return err
		}
	}
	return b.Put(key, encodeClasses(oldSessions+sessions, oldBots+bots, oldUnclassified+unclassified))
}

// fileSchema returns the schema of the file tx reads, validated at Open.
func fileSchema(tx *bbolt.Tx) uint64 {
	schema, err := getUint(tx.Bucket(bucketMeta), keySchema)
	if err != nil {
		return 0
	}
	return schema
}

// encodeHour returns the 24-byte hours value of h: Peak, LiveMillis and SampledMillis, each 8 bytes
// big-endian. h.Hour is in the key, not the value.
func encodeHour(h HourStat) []byte {
	v := make([]byte, 0, hourValueSize)
	v = binary.BigEndian.AppendUint64(v, h.Peak)
	v = binary.BigEndian.AppendUint64(v, h.LiveMillis)
	return binary.BigEndian.AppendUint64(v, h.SampledMillis)
}

// decodeHour decodes the hours value v stored under key.
func decodeHour(key, v []byte) (HourStat, error) {
	hour, ok := parseKeyTime(key, true)
	if !ok {
		return HourStat{}, fmt.Errorf("%w: %s key %q", ErrCorrupt, bucketHours, key)
	}
	h := HourStat{Hour: hour}
	if len(v) != hourValueSize {
		return h, fmt.Errorf("%w: %s %q holds %d bytes, want %d", ErrCorrupt, bucketHours, key, len(v), hourValueSize)
	}
	h.Peak = binary.BigEndian.Uint64(v[0:8])
	h.LiveMillis = binary.BigEndian.Uint64(v[8:16])
	h.SampledMillis = binary.BigEndian.Uint64(v[16:24])
	return h, nil
}

// parseKeyTime reads a days key (YYYY-MM-DD) or, withHour, an hours key
// (YYYY-MM-DDTHH). It is time.Parse for these two layouts only, without its
// cost, which dominates reading ten years of hours.
func parseKeyTime(key []byte, withHour bool) (time.Time, bool) {
	want := len(dayLayout)
	if withHour {
		want = len(hourLayout)
	}
	if len(key) != want || key[4] != '-' || key[7] != '-' || withHour && key[10] != 'T' {
		return time.Time{}, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(key[0:4])
	m, ok2 := num(key[5:7])
	d, ok3 := num(key[8:10])
	h, ok4 := 0, true
	if withHour {
		h, ok4 = num(key[11:13])
	}
	if !ok1 || !ok2 || !ok3 || !ok4 || m < 1 || m > 12 || d < 1 || h > 23 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, h, 0, 0, 0, time.UTC)
	if t.Day() != d { // 2023-02-30 normalises to March
		return time.Time{}, false
	}
	return t, true
}

// getUint returns the number stored under key in b, 0 if there is none.
func getUint(b *bbolt.Bucket, key []byte) (uint64, error) {
	v := b.Get(key)
	if v == nil {
		return 0, nil
	}
	return decodeUint(fmt.Sprintf("key %q", key), v)
}

// getTime returns the time stored under key in b, the zero time if there is none.
func getTime(b *bbolt.Bucket, key []byte) (time.Time, error) {
	v := b.Get(key)
	if v == nil {
		return time.Time{}, nil
	}
	return decodeSeconds(fmt.Sprintf("key %q", key), v)
}

// addUint adds n to the number stored under key in b.
func addUint(b *bbolt.Bucket, key []byte, n uint64) error {
	old, err := getUint(b, key)
	if err != nil {
		return err
	}
	return b.Put(key, encodeUint(old+n))
}
