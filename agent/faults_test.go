package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"headcount/agent/spop/spoptest"
	"headcount/store"
)

// mustTmpfs mounts a tmpfs of size bytes for the test (the tests run as
// root, as CI does) and unmounts it at the end.
func mustTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs (these tests need root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestRun_DiskFull fills the database's file system while sessions start
// and complete, so that flushes fail, then frees it: nothing is lost, nothing
// is counted twice, and the failures are logged and counted.
func TestRun_DiskFull(t *testing.T) {
	dir := mustTmpfs(t, 1<<20)
	path := filepath.Join(dir, "headcount.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Full from the start: the first flushes need pages the file does not
	// have yet (later ones reuse freed pages, which need no new space).
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	// A metering clock that moves a day at every reading: each flush
	// brings new hours and days to store, so the database must grow.
	var hours atomic.Int64
	system := SystemClock()
	clock := func() (time.Time, time.Time) {
		step := time.Duration(hours.Add(1)) * 24 * time.Hour
		mono, wall := system()
		return mono.Add(step), wall.Add(step)
	}
	a := runAgent(t, db, Config{IdleTimeout: time.Second, MaxSession: time.Hour, FlushInterval: 100 * time.Millisecond, Production: true, Clock: clock})
	c := spoptest.Dial(t, a.spoe)
	c.Hello(false)
	clients := 0
	traffic := func(n int) {
		for i := 0; i < n; i++ {
			c.Notify(requestMsg(ip4, fmt.Sprintf("client-%d", clients), nil))
			clients++
		}
	}
	completed := func() float64 { return a.metric(t, `headcount_sessions_completed_total{reason="idle"}`) }

	traffic(200)
	a.waitUntil(t, func() bool { return completed() == float64(clients) }, "the sessions to complete")
	a.waitUntil(t, func() bool { return a.metric(t, "headcount_store_flush_errors_total") >= 3 }, "flushes to fail on the full disk")
	failedAt := a.metric(t, "headcount_store_flush_errors_total")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	lastOK := a.metric(t, "headcount_store_last_flush_timestamp_seconds")
	a.waitUntil(t, func() bool { return a.metric(t, "headcount_store_last_flush_timestamp_seconds") > lastOK }, "a flush to succeed once space is back")
	if a.metric(t, "headcount_store_flush_errors_total") < failedAt {
		t.Fatal("the error counter went down")
	}
	traffic(100)
	a.waitUntil(t, func() bool { return completed() == float64(clients) }, "the later sessions to complete")
	failed := a.metric(t, "headcount_store_flush_errors_total")
	if err := a.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(a.logs.String(), "flush failed; the counts stay in memory and are retried with the next flush") {
		t.Errorf("no log line for the failed flushes")
	}
	cnt, err := db.Counters()
	if err != nil {
		t.Fatal(err)
	}
	days, err := db.Days(time.Now().AddDate(0, 0, -1), time.Now().AddDate(10, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, d := range days {
		sum += d.Sessions
	}
	if cnt.Started != uint64(clients) || cnt.Completed != uint64(clients) || sum != uint64(clients) {
		t.Errorf("database: started %d, completed %d, days sum %d; want %d each (nothing lost, nothing twice)", cnt.Started, cnt.Completed, sum, clients)
	}
	t.Logf("%d sessions through a full file system: %d failed flushes, database holds %d", clients, int(failed), cnt.Completed)
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return
		}
	}
}

// TestRun_ClockSteps steps the wall clock back two days and then forward
// three while clients keep their sessions: durations come from the
// monotonic clock, so no session ends early, lasts too long, or counts
// twice; sessions are counted on the day the wall clock shows when they
// end; coverage stays ordered and disjoint. The test drives both clocks and
// the meter's sweeps and flushes: the meter sweeps and flushes at every
// clock setting.
func TestRun_ClockSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	var elapsed, offset atomic.Int64 // monotonic time since base; wall minus mono
	clock := func() (time.Time, time.Time) {
		mono := base.Add(time.Duration(elapsed.Load()))
		return mono, mono.Add(time.Duration(offset.Load()))
	}
	cfg := Config{IdleTimeout: 2 * time.Second, MaxSession: time.Hour, FlushInterval: 100 * time.Millisecond, Production: true, Clock: clock}
	d := drive(t, &cfg)
	a := runAgent(t, db, cfg)
	c := spoptest.Dial(t, a.spoe)
	c.Hello(false)
	const clients = 20
	requests := func() {
		for i := 0; i < clients; i++ {
			c.Notify(requestMsg(ip4, fmt.Sprintf("client-%d", i), nil))
		}
	}
	// pause lets 300ms pass on the monotonic clock, sweeping and flushing.
	pause := func() {
		elapsed.Add(int64(300 * time.Millisecond))
		d.sweep()
		if err := d.flush(); err != nil {
			t.Fatal(err)
		}
	}
	requests()
	pause()
	offset.Store(int64(-48 * time.Hour)) // back two days
	pause()
	requests()
	pause()
	offset.Store(int64(24 * time.Hour)) // forward three days: one day ahead of where it started
	pause()
	requests()
	if got := a.metric(t, "headcount_sessions_started_total"); got != clients {
		t.Errorf("%v sessions started for %d clients whose requests never paused: a clock step split sessions", got, clients)
	}
	pause()
	if got := a.metric(t, `headcount_sessions_completed_total{reason="idle"}`); got != 0 {
		t.Errorf("%v sessions ended 300ms after their last request (idle timeout 2s)", got)
	}
	elapsed.Add(int64(2 * time.Second)) // past the idle timeout since the last requests
	pause()
	if got := a.metric(t, `headcount_sessions_completed_total{reason="idle"}`); got != clients {
		t.Errorf("%v sessions ended by idle time, want %d", got, clients)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	_, wall := clock()
	days, err := db.Days(wall.AddDate(0, 0, -5), wall.AddDate(0, 0, 5))
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 1 || days[0].Sessions != clients || days[0].Day.Format("2006-01-02") != wall.UTC().Format("2006-01-02") {
		t.Errorf("days = %+v, want %d sessions on %s, the wall clock's day when they ended", days, clients, wall.UTC().Format("2006-01-02"))
	}
	r, err := db.Check(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) > 0 || r.Intervals < 2 {
		t.Errorf("check after the clock steps: %d intervals, problems %v; want at least 2 disjoint intervals", r.Intervals, r.Problems)
	}
	cov, _ := db.Coverage()
	t.Logf("after stepping the wall clock -2 days then +3 days: %d sessions for %d clients, coverage %v", days[0].Sessions, clients, cov)
}
