package session

import (
	"testing"
	"time"
)

// TestTable_MigrationWaiterProgresses: a request that needs its shard to grow
// while another goroutine holds the shard's migration flag (to migrate an
// array already replaced, or releasing it) must not wait for some further
// migration: once the flag is released, it grows the shard itself.
func TestTable_MigrationWaiterProgresses(t *testing.T) {
	tab := MustNew(t, Config{Shards: 1, MinShardSlots: 4}, t0)
	for k := uint64(10); k < 13; k++ {
		if !tab.Observe(k, t0) {
			t.Fatalf("key %d did not start a session", k)
		}
	}
	sh := &tab.shards[0]
	sh.migrating.Store(true) // another goroutine holds the flag, for an array it will not replace
	done := make(chan bool)
	go func() { done <- tab.Observe(13, t0) }() // the array is full: this request needs a migration
	select {
	case <-done:
		t.Fatal("the request went on while the migration flag was held")
	case <-time.After(50 * time.Millisecond):
	}
	sh.migrating.Store(false) // the holder releases the flag without replacing this array
	select {
	case started := <-done:
		if !started {
			t.Fatal("the request did not start a session")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request still waits 5 s after the migration flag was released: it waits for a migration nobody makes")
	}
	if got := tab.Live(); got != 4 {
		t.Fatalf("live = %d, want 4", got)
	}
}
