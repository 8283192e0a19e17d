package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// A flush is applied only with the next sequence number: a repeat of the last one, a gap or a missing
// number is refused and changes nothing.
func TestDB_FlushSequence(t *testing.T) {
	db := MustCreate(t)
	if seq, err := db.FlushSeq(); seq != 0 || err != nil {
		t.Fatalf("FlushSeq of a new file = %d, %v; want 0", seq, err)
	}
	for _, seq := range []uint64{0, 2} {
		f := sampleFlush
		f.Seq = seq
		if err := db.Flush(f); !errors.Is(err, ErrFlushSequence) {
			t.Errorf("Flush with Seq %d on a new file: %v, want ErrFlushSequence", seq, err)
		}
	}
	f := sampleFlush
	f.Seq = 1
	MustFlush(t, db, f)
	before := MustSum(t, db.Path())
	if err := db.Flush(f); !errors.Is(err, ErrFlushSequence) {
		t.Errorf("Flush 1 applied twice: %v, want ErrFlushSequence", err)
	}
	if MustSum(t, db.Path()) != before {
		t.Error("a refused flush modified the file")
	}
	if seq, err := db.FlushSeq(); seq != 1 || err != nil {
		t.Errorf("FlushSeq = %d, %v; want 1", seq, err)
	}
}

// A commit that reports a failure after the transaction reached the file (a failed fdatasync) returns
// ErrCommit; FlushSeq then tells that the flush landed, and a retry of
// it is refused, so its counts are stored once.
func TestDB_FlushCommitFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	fail := true
	db := MustOpen(t, path, Options{AfterCommit: func() error {
		if fail {
			fail = false
			return errors.New("fdatasync: input/output error")
		}
		return nil
	}})
	f := sampleFlush
	f.Seq = 1
	if err := db.Flush(f); !errors.Is(err, ErrCommit) {
		t.Fatalf("Flush with a failing commit: %v, want ErrCommit", err)
	}
	if seq, err := db.FlushSeq(); seq != 1 || err != nil {
		t.Fatalf("FlushSeq after the failed commit = %d, %v; want 1 (the flush is in the file)", seq, err)
	}
	if err := db.Flush(f); !errors.Is(err, ErrFlushSequence) {
		t.Errorf("retried flush: %v, want ErrFlushSequence", err)
	}
	c, err := db.Counters()
	if err != nil || c.Started != sampleFlush.Started || c.Completed != 2 {
		t.Errorf("Counters = %+v, %v; want started 5, completed 2 (stored once)", c, err)
	}
	// The DB keeps its handle, and the file lock with it: no other writer
	// can slip in between the failed commit and the decision.
	if other, err := Open(path, Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		if other != nil {
			other.Close()
		}
		t.Errorf("another writer opened the database after a failed commit: %v", err)
	}
}

// A file written before flushes were numbered may lack the counter: its sequence is 0, Check reports 0
// and no problem, and the next flush is 1.
func TestDB_FlushSeqMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	MustHeadcountFile(t, path)
	MustBolt(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyFlushCount) })
	db := MustOpen(t, path, readWrite)
	r, err := db.Check()
	if err != nil || r.FlushSeq != 0 || len(r.Problems) != 0 {
		t.Fatalf("Check = %+v, %v; want flush sequence 0 and no problems", r, err)
	}
	f := sampleFlush
	f.Seq = 1
	MustFlush(t, db, f)
	if r, err := db.Check(); err != nil || r.FlushSeq != 1 {
		t.Errorf("Check after a flush = %+v, %v; want flush sequence 1", r, err)
	}
}
