package agent

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"headcount/store"
)

// mustBindable fails the test unless addr can be listened on, that is
// nothing holds it.
func mustBindable(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s is still bound: %v", addr, err)
	}
	l.Close()
}

// TestListen: an admin address in use fails Listen with the SPOP address
// released again; New that fails releases both listeners.
func TestListen(t *testing.T) {
	inUse, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	spoeAddr := free.Addr().String()
	free.Close()

	cfg := Config{SPOEAddr: spoeAddr, AdminAddr: inUse.Addr().String(), IdleTimeout: time.Minute, MaxSession: time.Hour, FlushInterval: time.Second}
	_, err = Listen(cfg)
	want := "listen for the admin endpoint on " + cfg.AdminAddr + ": listen tcp " + cfg.AdminAddr + ": bind: address already in use"
	if err == nil || err.Error() != want {
		t.Errorf("Listen: %v, want %q", err, want)
	}
	mustBindable(t, spoeAddr)

	cfg.AdminAddr = "127.0.0.1:0"
	l, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := l.Admin.Addr().String()
	db, err := store.Open(filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg.FlushInterval = time.Hour // not valid: New fails
	if _, err := New(cfg, db, l, zerolog.Nop()); err == nil {
		t.Fatal("New accepted an invalid flush interval")
	}
	mustBindable(t, spoeAddr)
	mustBindable(t, adminAddr)
}

// TestNew_WritesLast: a New that fails (here on an exclusion file that went
// missing) has written nothing: a pending file is neither applied nor
// removed.
func TestNew_WritesLast(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "headcount.db")
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if err := store.WritePending(path, []store.Flush{{Days: []store.DayCount{{Day: day, Sessions: 2}},
		Completed: map[string]uint64{"idle": 2}, Started: 2, Now: day.Add(time.Hour), Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := Config{SPOEAddr: "127.0.0.1:0", IdleTimeout: time.Minute, MaxSession: time.Hour, FlushInterval: time.Second,
		ExcludeIPFile: filepath.Join(dir, "missing")}
	l, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, db, l, zerolog.Nop()); err == nil {
		t.Fatal("New read an exclusion file that does not exist")
	}
	if seq, err := db.FlushSeq(); err != nil || seq != 0 {
		t.Errorf("the failed New applied flush %d (%v)", seq, err)
	}
	if _, err := os.Stat(store.PendingPath(path)); err != nil {
		t.Errorf("the failed New removed the pending file: %v", err)
	}
}
