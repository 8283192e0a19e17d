package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/spop/spoptest"
	"headcount/internal/logbuf"
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

// runAgent runs Run in-process on free loopback ports until the test ends
// or stop is called, and returns the addresses.
type runningAgent struct {
	spoe, admin string
	logs        *logbuf.Buffer
	stop        func() error
}

func runAgent(t *testing.T, db *store.DB, cfg Config) *runningAgent {
	t.Helper()
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	cfg.SPOEAddr, cfg.AdminAddr = free(), free()
	logs := &logbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, db, zerolog.New(logs)) }()
	a := &runningAgent{spoe: cfg.SPOEAddr, admin: cfg.AdminAddr, logs: logs}
	var once bool
	var result error
	a.stop = func() error {
		if !once {
			once = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = a.stop() })
	waitUntil(t, func() bool {
		resp, err := http.Get("http://" + a.admin + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, "the admin endpoint")
	return a
}

func (a *runningAgent) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return 0
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
	waitUntil(t, func() bool { return completed() == float64(clients) }, "the sessions to complete")
	waitUntil(t, func() bool { return a.metric(t, "headcount_store_flush_errors_total") >= 3 }, "flushes to fail on the full disk")
	failedAt := a.metric(t, "headcount_store_flush_errors_total")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	lastOK := a.metric(t, "headcount_store_last_flush_timestamp_seconds")
	waitUntil(t, func() bool { return a.metric(t, "headcount_store_last_flush_timestamp_seconds") > lastOK }, "a flush to succeed once space is back")
	if a.metric(t, "headcount_store_flush_errors_total") < failedAt {
		t.Fatal("the error counter went down")
	}
	traffic(100)
	waitUntil(t, func() bool { return completed() == float64(clients) }, "the later sessions to complete")
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
// end; coverage stays ordered and disjoint.
func TestRun_ClockSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var offset atomic.Int64
	system := SystemClock()
	clock := func() (time.Time, time.Time) {
		mono, wall := system()
		return mono, wall.Add(time.Duration(offset.Load()))
	}
	a := runAgent(t, db, Config{IdleTimeout: 2 * time.Second, MaxSession: time.Hour, FlushInterval: 100 * time.Millisecond, Production: true, Clock: clock})
	c := spoptest.Dial(t, a.spoe)
	c.Hello(false)
	const clients = 20
	requests := func() {
		for i := 0; i < clients; i++ {
			c.Notify(requestMsg(ip4, fmt.Sprintf("client-%d", i), nil))
		}
	}
	requests()
	time.Sleep(300 * time.Millisecond)
	offset.Store(int64(-48 * time.Hour)) // back two days
	time.Sleep(300 * time.Millisecond)
	requests()
	time.Sleep(300 * time.Millisecond)
	offset.Store(int64(24 * time.Hour)) // forward three days: one day ahead of the system clock
	time.Sleep(300 * time.Millisecond)
	requests()
	if got := a.metric(t, "headcount_sessions_started_total"); got != clients {
		t.Errorf("%v sessions started for %d clients whose requests never paused: a clock step split sessions", got, clients)
	}
	waitUntil(t, func() bool { return a.metric(t, `headcount_sessions_completed_total{reason="idle"}`) == clients }, "the sessions to end by idle time")
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
	r, err := db.Check()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) > 0 || r.Intervals < 2 {
		t.Errorf("check after the clock steps: %d intervals, problems %v; want at least 2 disjoint intervals", r.Intervals, r.Problems)
	}
	cov, _ := db.Coverage()
	t.Logf("after stepping the wall clock -2 days then +3 days: %d sessions for %d clients, coverage %v", days[0].Sessions, clients, cov)
}
