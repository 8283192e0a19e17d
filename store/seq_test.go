package store

import (
	"errors"
	"path/filepath"
	"slices"
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
		if _, err := db.Flush(f); !errors.Is(err, ErrFlushSequence) {
			t.Errorf("Flush with Seq %d on a new file: %v, want ErrFlushSequence", seq, err)
		}
	}
	f := sampleFlush
	f.Seq = 1
	MustFlush(t, db, f)
	before := MustSum(t, db.Path())
	if _, err := db.Flush(f); !errors.Is(err, ErrFlushSequence) {
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
	if _, err := db.Flush(f); !errors.Is(err, ErrCommit) {
		t.Fatalf("Flush with a failing commit: %v, want ErrCommit", err)
	}
	if seq, err := db.FlushSeq(); seq != 1 || err != nil {
		t.Fatalf("FlushSeq after the failed commit = %d, %v; want 1 (the flush is in the file)", seq, err)
	}
	if _, err := db.Flush(f); !errors.Is(err, ErrFlushSequence) {
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

// flush_count has been written by every flush since the first schema, so a file with counts but without
// it was written outside a flush: Check says so; its sequence reads as 0 and the next flush is 1.
func TestDB_FlushSeqMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	MustHeadcountFile(t, path)
	MustBolt(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyFlushCount) })
	db := MustOpen(t, path, readWrite)
	r, err := db.Check(time.Now())
	wantProblems := []string{
		"started_total 5 and completed_total 2 but no flush sequence: counts were written outside a flush",
		"a last flush time (2024-03-10T09:00:05Z) but no flush sequence",
	}
	if err != nil || r.FlushSeq != 0 || !slices.Equal(r.Problems, wantProblems) {
		t.Fatalf("Check = %+v, %v; want flush sequence 0 and problems %q", r, err, wantProblems)
	}
	f := sampleFlush
	f.Seq = 1
	MustFlush(t, db, f)
	if r, err := db.Check(time.Now()); err != nil || r.FlushSeq != 1 || len(r.Problems) != 0 {
		t.Errorf("Check after a flush = %+v, %v; want flush sequence 1 and no problems", r, err)
	}
}
