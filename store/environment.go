package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// EnvironmentChange is one change of the stored environment id: at Time (UTC, to the second) the id
// From ("" when there was none) became To.
type EnvironmentChange struct {
	Time time.Time `json:"time"`
	From string    `json:"from"`
	To   string    `json:"to"`
}

// RenameEnvironment stores to as the environment id and records the change, at now, in the database's
// environment history, in one transaction; it returns the id stored before ("" if there was none).
// When to is already the stored id, nothing is written. to must not be empty.
func (db *DB) RenameEnvironment(to string, now time.Time) (string, error) {
	if to == "" {
		return "", fmt.Errorf("%s: the new environment id is empty", db.path)
	}
	if err := checkStorable("environment change", now); err != nil {
		return "", fmt.Errorf("%s: %w", db.path, err)
	}
	var from string
	err := db.update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		from = string(meta.Get(keyEnvironment))
		if from == to {
			return nil
		}
		history, err := tx.CreateBucketIfNotExists(bucketEnvironmentHistory)
		if err != nil {
			return err
		}
		seq, err := history.NextSequence()
		if err != nil {
			return err
		}
		change := EnvironmentChange{Time: now, From: from, To: to}
		if err := history.Put(encodeUint(seq), encodeEnvironmentChange(change)); err != nil {
			return err
		}
		return meta.Put(keyEnvironment, []byte(to))
	})
	if err != nil {
		return "", err
	}
	return from, nil
}

// EnvironmentHistory returns the changes of the environment id made by RenameEnvironment, oldest
// first; none for a database whose id was never changed.
func (db *DB) EnvironmentHistory() ([]EnvironmentChange, error) {
	var changes []EnvironmentChange
	err := db.view(func(tx *bbolt.Tx) error {
		history := tx.Bucket(bucketEnvironmentHistory)
		if history == nil {
			return nil
		}
		return history.ForEach(func(k, v []byte) error {
			what := fmt.Sprintf("%s %x", bucketEnvironmentHistory, k)
			if len(k) != uintValueSize {
				return fmt.Errorf("%w: %s: key of %d bytes, want %d", ErrCorrupt, what, len(k), uintValueSize)
			}
			change, err := decodeEnvironmentChange(what, v)
			if err != nil {
				return err
			}
			changes = append(changes, change)
			return nil
		})
	})
	return changes, err
}

// encodeEnvironmentChange returns the bucketEnvironmentHistory value of c.
func encodeEnvironmentChange(c EnvironmentChange) []byte {
	v := encodeSeconds(c.Time)
	v = binary.BigEndian.AppendUint64(v, uint64(len(c.From)))
	v = append(v, c.From...)
	return append(v, c.To...)
}

// decodeEnvironmentChange decodes a bucketEnvironmentHistory value; what names it in the error.
func decodeEnvironmentChange(what string, v []byte) (EnvironmentChange, error) {
	if len(v) < 2*uintValueSize {
		return EnvironmentChange{}, fmt.Errorf("%w: %s holds %d bytes, want at least %d", ErrCorrupt, what, len(v), 2*uintValueSize)
	}
	at, err := decodeSeconds(what, v[:uintValueSize])
	if err != nil {
		return EnvironmentChange{}, err
	}
	rest := v[2*uintValueSize:]
	n := binary.BigEndian.Uint64(v[uintValueSize : 2*uintValueSize])
	if n >= uint64(len(rest)) {
		return EnvironmentChange{}, fmt.Errorf("%w: %s: the old id's length %d leaves no new id", ErrCorrupt, what, n)
	}
	return EnvironmentChange{Time: at, From: string(rest[:n]), To: string(rest[n:])}, nil
}
