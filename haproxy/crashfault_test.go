package haproxy

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"headcount/agent/spop/spoptest"
	"headcount/store"
)

// Faults at a flush followed by a crash: the agent runs under strace, which
// fails its fdatasync calls (EIO) or kills it (SIGKILL) at a chosen call.
// Clients are driven in rounds of 15 over one SPOP connection; what the
// restarted agent then stores is compared with the clients the crashed one
// acknowledged.

// TestFaults_CrashAfterFailingFlushes: every fdatasync fails from a
// thread's third on, so the flushes fail from the first seconds; the
// agent is then killed. The restarted agent must count every client
// acknowledged before the last flush attempt — through the pending file the
// failing flushes wrote — where it lost everything since the first failure
// before the pending file existed.
//
// strace counts fdatasync calls per thread, so a flush the Go runtime runs
// on a thread new to it can still succeed after the failures; the pending
// file then holds only flushes the database has, and the restart rightly
// applies none. The counts must be exact either way; the scenario is run
// again (up to 3 times) until the restart had a pending flush to apply.
func TestFaults_CrashAfterFailingFlushes(t *testing.T) {
	strace := mustStrace(t)
	for attempt := 1; attempt <= 3; attempt++ {
		if crashAfterFailingFlushes(t, strace) {
			return
		}
		t.Logf("attempt %d: a later flush landed on a fresh thread; the pending file held nothing new", attempt)
	}
	t.Errorf("in 3 attempts the restart never applied a pending flush: the test proves nothing")
}

// crashAfterFailingFlushes runs the scenario once and reports whether the
// restart applied flushes from the pending file.
func crashAfterFailingFlushes(t *testing.T, strace string) (appliedPending bool) {
	t.Helper()
	dir := t.TempDir()
	runner := newAgentRunner(t, dir, "--idle-timeout", "1h", "--flush-interval", "100ms")
	if code := runner.start(t).stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("first run: exit status %d\n%s", code, readFile(t, runner.logs))
	}
	runner.wrap = []string{strace, "-f", "-qq", "-o", filepath.Join(dir, "strace.out"), "-e", "trace=fdatasync", "-e", "inject=fdatasync:error=EIO:when=3+"}
	a := runner.start(t)
	c := spoptest.Dial(t, a.spoeAddr)
	c.Hello(false)
	acked := 0
	for round := 0; round < 10; round++ {
		for i := 0; i < 15; i++ {
			c.Notify(spoptest.Msg("headcount-request", netip.AddrFrom4([4]byte{10, 78, byte(round), byte(i + 1)}), "crash-test", nil))
			acked++
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Three more flush attempts: the second of them collected the last
	// round, and the third began after it had written the pending file.
	before := metric(t, a.metrics(t), "headcount_store_flush_errors_total")
	waitFor(t, 10*time.Second, "three more failed flushes", func() bool {
		return metric(t, a.metrics(t), "headcount_store_flush_errors_total") >= before+3
	})
	killTracee(t, a)
	if n := countInjected(t, filepath.Join(dir, "strace.out")); n < 10 {
		t.Fatalf("strace failed only %d fdatasync calls", n)
	}
	if _, err := os.Stat(store.PendingPath(runner.db)); err != nil {
		t.Errorf("no pending file after failed flushes: %v", err)
	}

	sdb, err := store.Open(runner.db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := sdb.FlushSeq()
	sdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	notApplied, problem, err := store.CheckPending(runner.db, stored)
	if err != nil || problem != "" {
		t.Fatalf("pending file: %v %s", err, problem)
	}

	runner.wrap = nil
	if code := runner.start(t).stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("restart: exit status %d\n%s", code, readFile(t, runner.logs))
	}
	said := strings.Contains(readFile(t, runner.logs), "applied the flushes a previous run could not write to the database")
	if said != (len(notApplied) > 0) {
		t.Errorf("the pending file held %d flushes the database lacked, and the restart said it applied some: %v\n%s",
			len(notApplied), said, readFile(t, runner.logs))
	}
	started, completed, sessions := storedTotals(t, runner.db)
	t.Logf("%d clients acknowledged; stored started %d, completed %d, on days %d", acked, started, completed, sessions)
	if started != acked || completed != acked || sessions != acked {
		t.Errorf("stored started %d, completed %d, on days %d; want %d each\nagent log:\n%s",
			started, completed, sessions, acked, readFile(t, runner.logs))
	}
	return len(notApplied) > 0
}

// TestFaults_KillDuringFlush kills the agent (SIGKILL, as kill -9 or the
// OOM killer would) at a chosen write or sync of the file: a thread's Nth
// pwrite64 (a data page or the meta page) or fdatasync (of the data pages or
// of the meta page, after which the commit is in the file). Each round of
// clients waits for a flush that began after it; the restarted agent must
// store each client once at most (no flush applied twice), every client of
// the rounds flushed before the kill (nothing lost beyond the bound: the
// sessions started since the last flush), and check must find nothing wrong.
func TestFaults_KillDuringFlush(t *testing.T) {
	strace := mustStrace(t)
	positions := []string{
		"pwrite64:signal=KILL:when=3", "pwrite64:signal=KILL:when=4", "pwrite64:signal=KILL:when=5", "pwrite64:signal=KILL:when=6",
		"fdatasync:signal=KILL:when=3", "fdatasync:signal=KILL:when=4", "fdatasync:signal=KILL:when=5", "fdatasync:signal=KILL:when=6",
	}
	killedByFault := 0
	for _, inject := range positions {
		t.Run(inject, func(t *testing.T) {
			dir := t.TempDir()
			runner := newAgentRunner(t, dir, "--idle-timeout", "1h", "--flush-interval", "100ms")
			if code := runner.start(t).stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("first run: exit status %d\n%s", code, readFile(t, runner.logs))
			}
			trace := filepath.Join(dir, "strace.out")
			runner.wrap = []string{strace, "-f", "-qq", "-o", trace, "-e", "trace=pwrite64,fdatasync", "-e", "inject=" + inject}
			// On a loaded machine the fault may come with one of the
			// flushes made before /readyz answers (they run with no
			// traffic too): a kill during an empty flush.
			a, ready := runner.tryStart(t)
			var c *spoptest.Client
			if ready {
				c = spoptest.Dial(t, a.spoeAddr)
				c.Hello(false)
			}
			acked, durable := 0, 0
			var frame uint64
		rounds:
			for round := 0; ready && round < 40; round++ {
				for i := 0; i < 15; i++ {
					frame++
					msg := spoptest.Msg("headcount-request", netip.AddrFrom4([4]byte{10, 79, byte(round), byte(i + 1)}), "kill-test", nil)
					if err := tryNotify(c, frame, msg); err != nil {
						break rounds // the agent is gone
					}
					acked++
				}
				sent := float64(time.Now().UnixNano()) / 1e9
				if !flushedSince(a, sent) {
					break
				}
				durable = acked
			}
			select {
			case <-a.done:
				killedByFault++
			default:
				// The rounds ended before the fault (a kill between flushes), or
				// the fault killed the agent and strace is exiting.
				if !killTracee(t, a) {
					killedByFault++
				}
			}
			lastCall := lastTracedCall(t, trace)

			runner.wrap = nil
			if code := runner.start(t).stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("restart: exit status %d\n%s", code, readFile(t, runner.logs))
			}
			started, completed, sessions := storedTotals(t, runner.db)
			t.Logf("killed at %s; %d clients acknowledged, %d of them flushed before the kill; stored started %d, completed %d, on days %d",
				lastCall, acked, durable, started, completed, sessions)
			if started > acked || started < durable || completed != started || sessions != started {
				t.Errorf("stored started %d, completed %d, on days %d; want between %d and %d, all completed and on days\nagent log:\n%s",
					started, completed, sessions, durable, acked, readFile(t, runner.logs))
			}
		})
	}
	if !t.Failed() && killedByFault == 0 {
		t.Error("strace killed the agent in no case: every kill came between flushes")
	}
}

func mustStrace(t *testing.T) string {
	t.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is needed (installed by .ci/run): %v", err)
	}
	return strace
}

// tryNotify sends one NOTIFY as frame id and waits for its ACK, returning
// an error instead of failing the test when the agent is gone.
func tryNotify(c *spoptest.Client, id uint64, msg spoptest.Message) error {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Conn.Write(spoptest.NotifyFrame(id, msg)); err != nil {
		return err
	}
	typ, _, err := c.TryRead(2 * time.Second)
	if err == nil && typ != 0x67 {
		err = fmt.Errorf("answer to NOTIFY has type %#x, want ACK", typ)
	}
	return err
}

// flushedSince waits until the agent reports a successful flush that began
// after sent (Unix seconds), and reports false if the agent exits first.
func flushedSince(a *agentProc, sent float64) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-a.done:
			return false
		default:
		}
		if status, body := httpGet(a.url("/metrics")); status == 200 {
			for _, line := range strings.Split(body, "\n") {
				if v, ok := strings.CutPrefix(line, "headcount_store_last_flush_timestamp_seconds "); ok {
					if f, err := strconv.ParseFloat(v, 64); err == nil && f > sent {
						return true
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// killTracee sends SIGKILL to the agent strace runs and waits for both to
// exit. It reports false when the agent was gone already.
func killTracee(t *testing.T, a *agentProc) (killed bool) {
	t.Helper()
	pid := a.cmd.Process.Pid
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		children = nil // strace has exited already, after the injected kill
	case err != nil:
		t.Fatal(err)
	}
	// No child: the agent is gone already (the injected kill), and strace
	// is exiting.
	if text := strings.TrimSpace(string(children)); text != "" {
		child, err := strconv.Atoi(text)
		if err != nil {
			t.Fatalf("strace has children %q, want the agent alone", children)
		}
		err = syscall.Kill(child, syscall.SIGKILL)
		if err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatal(err)
		}
		killed = err == nil
	}
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatal("agent still running 20s after SIGKILL")
	}
	return killed
}

// lastTracedCall returns the last pwrite64 or fdatasync strace saw, with
// its thread, for the log.
func lastTracedCall(t *testing.T, path string) string {
	t.Helper()
	last := "no traced call"
	for _, line := range strings.Split(readFile(t, path), "\n") {
		if strings.Contains(line, "pwrite64(") || strings.Contains(line, "fdatasync(") {
			f := strings.Fields(line)
			last = f[0] + " " + strings.SplitN(f[1], "(", 2)[0]
			if strings.Contains(line, "INJECTED") || strings.Contains(line, "<unfinished") {
				last += " (killed there)"
			}
		}
	}
	return last
}

// storedTotals opens the database read-only, runs headcount check on it
// (failing the test on any problem), and returns its started and completed
// counters and the sessions its days hold.
func storedTotals(t *testing.T, path string) (started, completed, sessions int) {
	t.Helper()
	if out, err := exec.Command(agentBin, "check", "--db", path).CombinedOutput(); err != nil {
		t.Errorf("headcount check: %v\n%s", err, out)
	}
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cnt, err := db.Counters()
	if err != nil {
		t.Fatal(err)
	}
	days, err := db.Days(time.Unix(0, 0), time.Now().Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		sessions += int(d.Sessions)
	}
	return int(cnt.Started), int(cnt.Completed), sessions
}
