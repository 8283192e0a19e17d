package haproxy

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"headcount/agent/spop/spoptest"
	"headcount/store"
)

// TestFlood_MaxLiveSessions floods the real agent, through SPOP, with
// 50,000 distinct keys under --max-live-sessions 5000. The first 5,000
// keys are sessions; each of the other 45,000 is counted at once as a
// completed one-request session (reason overflow) and not kept, while the
// 5,000 sessions go on: a request of each of them, interleaved with the
// flood, starts nothing. Every key is stored exactly once after shutdown
// (5,000 shutdown, 45,000 overflow); the agent's resident memory does not
// grow with the flood, and the flood's requests are answered as fast as
// those of known sessions interleaved with them.
func TestFlood_MaxLiveSessions(t *testing.T) {
	const (
		maxLive = 5000
		keys    = 50_000
	)
	f := runFlood(t, maxLive, keys)
	a, runner := f.agent, f.runner
	m := a.metrics(t)
	for series, want := range map[string]float64{
		`headcount_sessions_completed_total{reason="overflow"}`: keys - maxLive,
		"headcount_sessions_started_total":                      keys,
		"headcount_sessions_active":                             maxLive,
		"headcount_sessions_held":                               maxLive,
		"headcount_sessions_max_live":                           maxLive,
	} {
		if got := metric(t, m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit status %d\n%s", code, readFile(t, runner.logs))
	}
	// The flood lasts less than a minute: one warning, at the first sweep
	// after the first overflow, with the overflow sessions counted by then.
	var warnings []string
	for _, line := range strings.Split(readFile(t, runner.logs), "\n") {
		if strings.Contains(line, `"overflowed":`) {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"level":"warn"`) || !strings.Contains(warnings[0], `,"max_live_sessions":5000,`) {
		t.Errorf("overflow warnings:\n%s\nwant one", strings.Join(warnings, "\n"))
	}

	started, completed, sessions := storedTotals(t, runner.db)
	db, err := store.Open(runner.db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	cnt, err := db.Counters()
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if started != keys || completed != keys || sessions != keys ||
		cnt.CompletedByReason["overflow"] != keys-maxLive || cnt.CompletedByReason["shutdown"] != maxLive {
		t.Errorf("stored started %d, completed %d, on days %d, by reason %v; want %d each, %d overflow and %d shutdown",
			started, completed, sessions, cnt.CompletedByReason, keys, keys-maxLive, maxLive)
	}

	// The same flood with room for every key: what keeping them costs.
	kept := runFlood(t, keys, keys)
	kept.agent.stop(t, syscall.SIGTERM)
	p := func(d []time.Duration, q int) time.Duration { return percentile(d, q) }
	t.Logf("RSS %.1f MiB with the table full, %.1f MiB after the flood (highest %.1f MiB); with every key kept, %.1f MiB then %.1f MiB",
		mib(f.rssBefore), mib(f.rssAfter), mib(f.rssPeak), mib(kept.rssBefore), mib(kept.rssAfter))
	t.Logf("ACK latency p50/p99: filling %v/%v, flood (overflow) %v/%v, held sessions during the flood %v/%v",
		p(f.fill, 50), p(f.fill, 99), p(f.flood, 50), p(f.flood, 99), p(f.known, 50), p(f.known, 99))
	// Bound: a quarter of what keeping the keys costs, which the second run
	// measures with the same probe and the same build (the 45,000 keys take
	// 2 MiB of slots, more with the arrays their growth leaves to the
	// garbage collector, and many times more under the race detector's
	// shadow memory); the flood itself allocates nothing in the agent, and
	// what it does touch (a buffer's pages, a goroutine stack) stays far
	// below that. The kept run must grow by at least 2 MiB for the bound to
	// mean anything.
	keptGrowth := kept.rssAfter - kept.rssBefore
	if keptGrowth < 2<<20 {
		t.Errorf("RSS grew only %.2f MiB with every key kept: the probe does not see the table grow", mib(keptGrowth))
	}
	if growth := f.rssPeak - f.rssBefore; growth > keptGrowth/4 {
		t.Errorf("RSS grew %.2f MiB during the flood (from %.1f MiB), want at most a quarter of the %.2f MiB that keeping the keys costs",
			mib(growth), mib(f.rssBefore), mib(keptGrowth))
	}
	// The flood's requests are answered like those of the sessions held,
	// measured interleaved, so that the machine's load hits both alike.
	if p(f.flood, 50) > 2*p(f.known, 50)+100*time.Microsecond || p(f.flood, 99) > 2*p(f.known, 99)+time.Millisecond {
		t.Errorf("flood ACK latency p50/p99 %v/%v against %v/%v for held sessions", p(f.flood, 50), p(f.flood, 99), p(f.known, 50), p(f.known, 99))
	}
}

// flood is what runFlood measured; its agent still runs.
type flood struct {
	runner                       agentRunner
	agent                        *agentProc
	rssBefore, rssAfter, rssPeak int64
	fill, flood, known           []time.Duration // ACK latencies
}

// runFlood starts an agent with --max-live-sessions maxLive and sends, on
// one SPOP connection, the first 5,000 keys twice (the table fills and is
// seen again: the agent's memory for 5,000 sessions, warmed up), then the
// other keys up to keys, each followed by a request of one of the first
// 5,000, measuring its resident memory before, during and after.
func runFlood(t *testing.T, maxLive, keys int) flood {
	const held = 5000
	f := flood{runner: newAgentRunner(t, t.TempDir(), "--max-live-sessions", strconv.Itoa(maxLive), "--idle-timeout", "1h", "--flush-interval", "1s")}
	f.agent = f.runner.start(t)
	c := spoptest.Dial(t, f.agent.spoeAddr)
	c.Hello(false)
	key := func(i int) spoptest.Message {
		return spoptest.Msg("headcount-request", netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), "flood-test", nil)
	}
	notify := func(m spoptest.Message) time.Duration {
		start := time.Now()
		c.Notify(m)
		return time.Since(start)
	}
	for i := 0; i < held; i++ {
		f.fill = append(f.fill, notify(key(i)))
	}
	for i := 0; i < held; i++ {
		notify(key(i))
	}
	if got := metric(t, f.agent.metrics(t), "headcount_sessions_held"); got != held {
		t.Fatalf("%v places held after %d keys, want %d", got, held, held)
	}
	f.rssBefore = vmRSS(t, f.agent.cmd.Process.Pid)
	f.rssPeak = f.rssBefore
	for i := held; i < keys; i++ {
		f.flood = append(f.flood, notify(key(i)))
		f.known = append(f.known, notify(key(i%held)))
		if i%5000 == 0 {
			f.rssPeak = max(f.rssPeak, vmRSS(t, f.agent.cmd.Process.Pid))
		}
	}
	f.rssAfter = vmRSS(t, f.agent.cmd.Process.Pid)
	f.rssPeak = max(f.rssPeak, f.rssAfter)
	return f
}

// vmRSS returns a process's resident set size in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// percentile returns the q-th percentile of d (which it sorts).
func percentile(d []time.Duration, q int) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*q/100)]
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
