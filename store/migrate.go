package store

import (
	"fmt"
	"io"
	"path/filepath"

	"go.etcd.io/bbolt"

	"headcount/internal/atomicfile"
)

// Migration tells what a writable Open did to bring an older file to SchemaVersion.
type Migration struct {
	From, To uint64
	// Backup is the path of the copy of the file as it was before, written (and synced with its
	// directory) before the file was changed.
	Backup string
	// Days and Windows count the values rewritten.
	Days, Windows int
}

// Migrated returns what Open migrated, and false when the file was of SchemaVersion already (or opened
// read-only, which never migrates).
func (db *DB) Migrated() (Migration, bool) {
	if db.migration == nil {
		return Migration{}, false
	}
	return *db.migration, true
}

// Schema returns the schema of the file: SchemaVersion, or an older one for a file opened read-only.
func (db *DB) Schema() uint64 {
	var schema uint64
	_ = db.view(func(tx *bbolt.Tx) error { schema = fileSchema(tx); return nil })
	return schema
}

// MigrationBackupPath returns the path of the copy a migration of the database at path from schema
// from writes before it changes the file.
func MigrationBackupPath(path string, from uint64) string {
	return path + fmt.Sprintf(migrationBackupSuffix, from)
}

// migrate brings the file at path, open for writing in b and of schema from, to SchemaVersion: it
// writes a copy of the file to MigrationBackupPath first, then migrates in one write transaction, so
// that a crash leaves either the old file or the migrated one. On an error the file is as it was.
func migrate(path string, b *bbolt.DB, from uint64) (*Migration, error) {
	m := &Migration{From: from, To: SchemaVersion, Backup: MigrationBackupPath(path, from)}
	err := atomicfile.Write(m.Backup, 0o600, func(w io.Writer) error {
		return b.View(func(tx *bbolt.Tx) error {
			_, err := tx.WriteTo(w)
			return err
		})
	})
	if err == nil {
		err = syncDir(filepath.Dir(m.Backup))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cannot write the copy of the schema-%d database before migrating it to schema %d, so it was left as it was: %w",
			path, from, SchemaVersion, err)
	}
	err = guard(path, func() error {
		return b.Update(func(tx *bbolt.Tx) error {
			var err error
			if from == 1 {
				if m.Days, m.Windows, err = migrate1to2(tx); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keySchema, encodeUint(SchemaVersion))
		})
	})
	if err != nil {
		return nil, fmt.Errorf("migrating to schema %d (the file was left at schema %d; a copy is at %s): %w", SchemaVersion, from, m.Backup, err)
	}
	return m, nil
}

// migrate1to2 rewrites every value of bucketDays and bucketWindows from schema 1's single count n to
// the counts by class (0, 0, n): nothing was classified before schema 2. It returns how many values
// of each it rewrote.
func migrate1to2(tx *bbolt.Tx) (days, windows int, err error) {
	rewrite := func(name []byte) (int, error) {
		b := tx.Bucket(name)
		if b == nil {
			return 0, nil
		}
		var keys, values [][]byte
		err := b.ForEach(func(k, v []byte) error {
			n, err := decodeUint(fmt.Sprintf("%s %q", name, k), v)
			if err != nil {
				return err
			}
			keys = append(keys, append([]byte(nil), k...))
			values = append(values, encodeClasses(n, 0, n))
			return nil
		})
		if err != nil {
			return 0, err
		}
		for i, k := range keys { // not while iterating: a Put may split the page the cursor is on
			if err := b.Put(k, values[i]); err != nil {
				return 0, err
			}
		}
		return len(keys), nil
	}
	if days, err = rewrite(bucketDays); err != nil {
		return 0, 0, err
	}
	windows, err = rewrite(bucketWindows)
	return days, windows, err
}
