// Package store persists headcount's metering results in an embedded bbolt file: completed sessions per
// UTC day, hour and 10-minute window, coverage intervals, running counters and imported history. Besides
// numbers and timestamps it holds only the environment id and the state documents of the entitlement
// checker and the usage transmitter — never an address, a header or a session key — and it knows
// nothing of HAProxy.
//
// The file's schema — every bucket and key, its encoding, its writers and readers, the schema version
// and the rules for changing it — is declared in schema.go. A file is only ever written after it has
// been proven to be a consistent headcount database of a schema this package understands.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors returned by Open and, for ErrCorrupt, by any operation. They are wrapped with the database path
// and a detail, so test them with errors.Is.
var (
	// ErrNotHeadcount means the file is not a headcount database: not a regular file, empty, not bbolt, or without
	// headcount's meta bucket. Open leaves such a file untouched.
	ErrNotHeadcount = errors.New("not a headcount database")
	// ErrCorrupt means the file is headcount's but inconsistent: bbolt's page check failed, a required
	// bucket is missing, or a stored key or value cannot be decoded.
	ErrCorrupt = errors.New("database is corrupt")
	// ErrNewerSchema means the file has a schema above SchemaVersion; Open neither reads nor writes it.
	ErrNewerSchema = errors.New("database has a newer schema")
	// ErrMissing means there is no file at the path; a read-only or MustExist Open does not create one.
	ErrMissing = errors.New("database file does not exist")
	// ErrLocked means another process held the file lock for longer than Options.Timeout.
	ErrLocked = errors.New("database is in use by another process")
	// ErrCommit means a write transaction's commit failed (a write or the fdatasync of the file): the
	// transaction may or may not be visible. The next read through the same DB tells (see DB).
	ErrCommit = errors.New("commit failed")
	// ErrFlushSequence means a flush was refused because its sequence number is not the stored one
	// plus 1: it was applied already, or one before it is missing.
	ErrFlushSequence = errors.New("flush out of sequence")
)

// defaultTimeout is how long Open waits for the file lock when Options.Timeout is 0.
const defaultTimeout = time.Second

// Options configures Open.
type Options struct {
	// ReadOnly opens the file with a shared lock and never creates or writes it. Several read-only
	// openers can share a file, but none can while a writer holds it.
	ReadOnly bool

	// MustExist makes Open fail with ErrMissing instead of creating a missing file.
	MustExist bool

	// Timeout is how long Open waits for the file lock before failing with ErrLocked. 0 means 1s: long
	// enough to ride out a restart of the other holder, short enough to report a running agent promptly.
	Timeout time.Duration

	// AfterCommit, for fault-injection tests only, is called after each write transaction that bbolt
	// committed without error; a non-nil error it returns is returned by the write, as a failed
	// fdatasync of the meta page would be: the transaction is visible, the caller is told it failed.
	AfterCommit func() error
}

// DB is an open headcount database. It is safe for concurrent use.
//
// A write whose commit fails (bbolt wrote the pages and the meta page, then the fdatasync or a write
// failed) may nevertheless be visible: bbolt reads its meta pages through the page cache, and its
// rollback reloads the free-page list from the meta page in force, so the handle stays consistent
// with what it shows. The handle is kept, and with it the file lock for the agent's whole run: a
// close and reopen would read the same page cache and would let another process (a second agent,
// an import) write the file in between. Callers decide from the next read (FlushSeq) whether the
// failed commit is visible.
type DB struct {
	path string
	opts Options

	mu   sync.RWMutex // held for reading by every transaction, for writing by Close
	bolt *bbolt.DB    // nil after Close
	// created is set when this Open created the file (it did not exist).
	created bool
	// migration is what this Open migrated, nil if nothing.
	migration *Migration
}

// Open opens the headcount database at path. When path does not exist and neither opts.ReadOnly nor
// opts.MustExist is set, Open creates it with mode 0600 and an empty database of SchemaVersion. An
// existing file is validated under a shared lock before it is opened for writing, and a file that fails
// validation — empty, not bbolt, inconsistent, not headcount's, or of a newer schema — is left byte for
// byte as it was. A valid file of an older schema is migrated when opened for writing (see migrate and
// Migrated), and read as it is when opened read-only. An existing file's mode is never changed.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	db, err := openExisting(path, opts)
	if errors.Is(err, ErrMissing) && !opts.ReadOnly && !opts.MustExist {
		return create(path, opts)
	}
	return db, err
}

// Close releases the file lock. The DB cannot be used afterwards.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	b := db.bolt
	db.bolt = nil
	if b == nil {
		return nil
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("%s: %w", db.path, err)
	}
	return nil
}

// Discard undoes the Open of a caller whose start-up failed after it: it removes the file if this
// Open created it and no flush was applied to it since (as a pending file's flushes are at start:
// the file then holds counts found nowhere else), while still holding its lock, then closes the
// database. A file that existed before Open is only closed, never removed, so a failed start leaves
// the disk as it found it. The DB cannot be used afterwards.
func (db *DB) Discard() error {
	var removeErr error
	if seq, err := db.FlushSeq(); db.created && err == nil && seq == 0 {
		db.mu.Lock()
		if db.bolt != nil {
			removeErr = os.Remove(db.path)
		}
		db.mu.Unlock()
	}
	return errors.Join(removeErr, db.Close())
}

// Created reports whether this Open created the file (it did not exist).
func (db *DB) Created() bool {
	return db.created
}

// Path returns the path the database was opened with.
func (db *DB) Path() string {
	return db.path
}

// openExisting validates the file at path read-only and, unless opts.ReadOnly, reopens it for writing.
func openExisting(path string, opts Options) (*DB, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w", path, ErrMissing)
	case err != nil:
		return nil, err
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("%s: %w: not a regular file", path, ErrNotHeadcount)
	case info.Size() == 0:
		return nil, fmt.Errorf("%s: %w: file is empty", path, ErrNotHeadcount)
	}

	b, err := openBolt(path, true, opts.Timeout)
	if err != nil {
		return nil, err
	}
	var schema uint64
	err = guard(path, func() error {
		return b.View(func(tx *bbolt.Tx) (err error) {
			schema, err = validateFile(tx, info.Size())
			return err
		})
	})
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	if opts.ReadOnly {
		return &DB{bolt: b, path: path, opts: opts}, nil
	}
	if err := b.Close(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err = openBolt(path, false, opts.Timeout)
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: b, path: path, opts: opts}
	if schema < SchemaVersion {
		// Read again under the exclusive lock: another writer may have migrated it in between.
		err := guard(path, func() error {
			return b.View(func(tx *bbolt.Tx) error { schema = fileSchema(tx); return nil })
		})
		if err == nil && schema < SchemaVersion {
			db.migration, err = migrate(path, b, schema)
		}
		if err != nil {
			_ = b.Close()
			return nil, err
		}
	}
	return db, nil
}

// create makes a new database at path with mode 0600. It never touches a file it did not create: if
// path appeared in the meantime, that file is opened as an existing one.
func create(path string, opts Options) (*DB, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return openExisting(path, opts)
	}
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return nil, err
	}

	b, err := openBolt(path, false, opts.Timeout)
	if err == nil {
		err = guard(path, func() error { return b.Update(initSchema) })
		if err != nil {
			_ = b.Close()
		}
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, err
	}
	return &DB{bolt: b, path: path, opts: opts, created: true}, nil
}

// openBolt opens path with bbolt and translates its open errors into this package's.
func openBolt(path string, readOnly bool, timeout time.Duration) (*bbolt.DB, error) {
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: readOnly, Timeout: timeout})
	var pathErr *fs.PathError
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%s: %w: bbolt: %v", path, ErrNotHeadcount, err)
	case errors.As(err, &pathErr):
		return nil, err
	case errors.As(err, new(syscall.Errno)):
		// A system call failed (an fdatasync while creating the file, a lock the system refused): the
		// disk or the system, not the file's contents.
		return nil, fmt.Errorf("%s: %w", path, err)
	default:
		return nil, fmt.Errorf("%s: %w: bbolt: %v", path, ErrCorrupt, err)
	}
}

// initSchema writes the buckets and meta values of an empty schema-1 database.
func initSchema(tx *bbolt.Tx) error {
	for _, name := range requiredBuckets {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyMagic, []byte(magicValue)); err != nil {
		return err
	}
	return meta.Put(keySchema, encodeUint(SchemaVersion))
}

// validateFile reports why tx, read from a file of fileSize bytes, is not a usable headcount database,
// and returns its schema.
func validateFile(tx *bbolt.Tx, fileSize int64) (uint64, error) {
	// Pages past the end of the file would fault when read, so check the size before anything else.
	if fileSize < tx.Size() {
		return 0, fmt.Errorf("%w: file is truncated (%d of %d bytes)", ErrCorrupt, fileSize, tx.Size())
	}
	problems := collect(tx.Check())
	switch len(problems) {
	case 0:
	case 1:
		return 0, fmt.Errorf("%w: %v", ErrCorrupt, problems[0])
	default:
		return 0, fmt.Errorf("%w: %v (and %d more problems)", ErrCorrupt, problems[0], len(problems)-1)
	}

	meta := tx.Bucket(bucketMeta)
	if meta == nil || string(meta.Get(keyMagic)) != magicValue {
		return 0, fmt.Errorf("%w: no headcount %s bucket", ErrNotHeadcount, bucketMeta)
	}
	schema, err := getUint(meta, keySchema)
	switch {
	case err != nil:
		return 0, err
	case schema > SchemaVersion:
		return 0, fmt.Errorf("%w: schema %d, this headcount reads up to %d", ErrNewerSchema, schema, SchemaVersion)
	case schema == 0:
		return 0, fmt.Errorf("%w: no schema version", ErrCorrupt)
	}
	for _, name := range requiredBuckets {
		if tx.Bucket(name) == nil {
			return 0, fmt.Errorf("%w: bucket %q is missing", ErrCorrupt, name)
		}
	}
	return schema, nil
}

// view runs fn in a read transaction; see guard.
func (db *DB) view(fn func(*bbolt.Tx) error) error {
	return db.with(func(b *bbolt.DB) error {
		return guard(db.path, func() error { return b.View(fn) })
	})
}

// update runs fn in a write transaction, committed only if fn returns nil; see guard. When fn
// succeeded but the commit failed, the error wraps ErrCommit.
func (db *DB) update(fn func(*bbolt.Tx) error) error {
	return db.with(func(b *bbolt.DB) error {
		var fnErr error
		called := false
		err := guard(db.path, func() error {
			err := b.Update(func(tx *bbolt.Tx) error {
				if schema := fileSchema(tx); schema != SchemaVersion {
					// Open migrates a writable file; nothing writes schema-2 records into another.
					return fmt.Errorf("%w: schema %d is not %d: open the file for writing to migrate it", ErrCorrupt, schema, SchemaVersion)
				}
				called = true
				fnErr = fn(tx)
				return fnErr
			})
			if err == nil && db.opts.AfterCommit != nil {
				err = db.opts.AfterCommit()
			}
			return err
		})
		if err != nil && called && fnErr == nil {
			err = fmt.Errorf("%w: %w", ErrCommit, err)
		}
		return err
	})
}

// with runs fn with the open bbolt handle.
func (db *DB) with(fn func(*bbolt.DB) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.bolt == nil {
		return fmt.Errorf("%s: database is closed", db.path)
	}
	return fn(db.bolt)
}

// guard runs fn, turns a panic or memory fault (how bbolt reacts to pages it cannot decode) into
// ErrCorrupt, and prefixes any error with path. bbolt rolls the transaction back on the way out.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", path, err)
		}
	}()
	return fn()
}

// Held reports whether a process holds the lock of the file at path, as an
// open headcount database does (a writer exclusively, readers shared). It
// takes and at once releases an exclusive lock, without waiting.
func Held(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// FileID identifies the file at path (device and inode), so that two paths
// can be recognised as the same database.
func FileID(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("%s: no device and inode on this system", path)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino), nil
}
