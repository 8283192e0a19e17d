package haproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/negasus/haproxy-spoe-go/frame"

	"headcount/store"
)

// load sends one request for each of many distinct clients, from 4
// goroutines, until stopped, and counts the requests answered 200 and the
// failures.
type load struct {
	ok, failed atomic.Int64
	slowest    atomic.Int64 // nanoseconds, of any request, answered or not
	mu         sync.Mutex
	errs       []error
	stop       context.CancelFunc
	done       sync.WaitGroup
}

func startLoad(frontend, network string, clients int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{stop: cancel}
	users := e2eClients(network, clients)
	var next atomic.Int64
	for w := 0; w < 4; w++ {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(users)) {
					return
				}
				start := time.Now()
				status, err := users[i].send(context.Background(), frontend, "/")
				if d := int64(time.Since(start)); d > l.slowest.Load() {
					l.slowest.Store(d)
				}
				if err != nil || status != 200 {
					l.failed.Add(1)
					l.mu.Lock()
					l.errs = append(l.errs, fmt.Errorf("status %d: %v", status, err))
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
			}
		}()
	}
	return l
}

func (l *load) finish() { l.stop(); l.done.Wait() }

// TestFaults_KillUnderLoad kills the agent with SIGKILL while new clients
// arrive at full rate, restarts it, and measures what the crash lost: at most
// the sessions started since the last flush (the sessions live at the crash
// are counted at restart, reason recovered).
func TestFaults_KillUnderLoad(t *testing.T) {
	const flush = 200 * time.Millisecond
	runner := newAgentRunner(t, t.TempDir(), "--idle-timeout", "2s", "--flush-interval", flush.String())
	agent := runner.start(t)
	frontend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startHAProxy(t, writeConfig(t, haproxyConfig{FrontendAddr: frontend, AppAddr: startApp(t), AgentAddr: runner.spoeAddr}))
	agent.awaitHAProxy(t)

	l := startLoad(frontend, "127.71", 60000)
	waitFor(t, 20*time.Second, "a second of load", func() bool { return l.ok.Load() > 500 })
	time.Sleep(time.Second)
	start := time.Now()
	okAtStart := l.ok.Load()
	time.Sleep(time.Second)
	rate := float64(l.ok.Load()-okAtStart) / time.Since(start).Seconds()
	answeredBefore := l.ok.Load() // each answered request was acknowledged by the agent, or timed out at 20ms
	if code := agent.stop(t, syscall.SIGKILL); code != 128+int(syscall.SIGKILL) {
		t.Fatalf("exit status after kill -9: %d", code)
	}
	l.finish()

	agent = runner.start(t) // recovery
	recovered := metric(t, agent.metrics(t), `headcount_sessions_completed_total{reason="recovered"}`)
	if code := agent.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit status after SIGTERM: %d", code)
	}
	db, err := store.Open(runner.db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Counters()
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	lost := int64(answeredBefore) - int64(c.Started)
	bound := rate*flush.Seconds() + 50 // plus the requests in flight at the kill
	t.Logf("kill -9 at %.0f new sessions/s with --flush-interval %v: %d requests answered before the kill, %d sessions in the database (%v recovered at restart): %d lost, bound %.0f",
		rate, flush, answeredBefore, c.Started, recovered, lost, bound)
	if float64(lost) > bound {
		t.Errorf("lost %d sessions, more than the %.0f started in one flush interval", lost, bound)
	}
	if c.Started != c.Completed || recovered == 0 {
		t.Errorf("database: started %d, completed %d, recovered %v: every session started must be counted", c.Started, c.Completed, recovered)
	}
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d client requests failed around the kill; HAProxy must answer them all", n)
	}
}

// TestFaults_HAProxyReload reloads HAProxy (master-worker mode and SIGUSR2,
// as Debian's systemctl reload does: the listening sockets pass to the new
// worker) and then restarts it, under load: no client request fails across
// the reload, none hangs across the restart, counting goes on, and clients
// seen before and after count once.
func TestFaults_HAProxyReload(t *testing.T) {
	runner := newAgentRunner(t, t.TempDir(), "--idle-timeout", "3s", "--flush-interval", "200ms")
	agent := runner.start(t)
	frontend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := writeConfig(t, haproxyConfig{FrontendAddr: frontend, AppAddr: startApp(t), AgentAddr: runner.spoeAddr})
	master := startHAProxy(t, cfg, "-W")
	agent.awaitHAProxy(t)

	users := e2eClients("127.70", 200)
	ctx := context.Background()
	if f := run(ctx, frontend, users, 1); len(f) > 0 {
		t.Fatalf("before the reload: %d failures, first %s", len(f), f[0])
	}
	reload := startLoad(frontend, "127.69", 1_000_000) // load across the reload
	time.Sleep(300 * time.Millisecond)
	if err := master.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	// The new worker is up once the master logs its second "Loading
	// success."; the former one finishes its connections meanwhile.
	waitFor(t, 20*time.Second, "the new worker", func() bool {
		return strings.Count(master.Output(), "Loading success.") >= 2
	})
	if f := run(ctx, frontend, users, 1); len(f) > 0 { // the same clients, through the new process
		t.Fatalf("after the reload: %d failures, first %s", len(f), f[0])
	}
	reload.finish()
	if n := reload.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed across the reload, first: %v", n, n+reload.ok.Load(), reload.errs[0])
	}

	// A restart leaves a moment with nothing listening: requests then are
	// refused, or cut by the stopping process, at once; none hangs. It is
	// done on a plain (not master-worker) HAProxy: a stopping master keeps
	// its listening sockets to pass them on, and connections would queue on
	// them unanswered until the client gives up.
	master.stop(t)
	plain := startHAProxy(t, cfg)
	restart := startLoad(frontend, "127.68", 1_000_000)
	time.Sleep(300 * time.Millisecond)
	plain.stop(t)
	startHAProxy(t, cfg)
	time.Sleep(300 * time.Millisecond)
	restart.finish()
	for _, err := range restart.errs {
		// Refused while nothing listens; cut by the stopping process (EOF,
		// a reset, or a keep-alive connection it closed as a request went out).
		if msg := err.Error(); !strings.Contains(msg, "connection refused") && !strings.HasSuffix(msg, "EOF") && !strings.Contains(msg, "connection reset") &&
			!strings.Contains(msg, "server closed idle connection") {
			t.Errorf("a request failed otherwise than refused during the restart: %v", err)
			break
		}
	}
	if slowest := time.Duration(restart.slowest.Load()); slowest > time.Second {
		t.Errorf("a request took %v across the restart: stuck", slowest)
	}
	if f := run(ctx, frontend, users, 1); len(f) > 0 {
		t.Fatalf("after the restart: %d failures, first %s", len(f), f[0])
	}
	attempted := int64(len(users)) + reload.ok.Load() + reload.failed.Load() + restart.ok.Load() + restart.failed.Load()
	waitFor(t, 20*time.Second, "every session to end", func() bool {
		return metric(t, agent.metrics(t), "headcount_sessions_active") == 0
	})
	started := metric(t, agent.metrics(t), "headcount_sessions_started_total")
	t.Logf("reload under load: %d requests, %d failed; restart under load: %d answered, %d refused or cut, slowest %v; %d clients seen before, between and after: %v sessions for %d distinct clients",
		reload.ok.Load(), reload.failed.Load(), restart.ok.Load(), restart.failed.Load(), time.Duration(restart.slowest.Load()), len(users), started, attempted)
	// Each distinct client counts once however many HAProxy processes saw
	// it; one whose request met the restart may go unmetered (a coverage
	// matter), never counted twice.
	if started > float64(attempted) || started < float64(len(users)) {
		t.Errorf("%v sessions started for %d distinct clients", started, attempted)
	}
}

// TestFaults_FileDescriptorsExhausted runs the agent with 40 file
// descriptors and opens more connections than it can accept: the agent
// stays up, logs the failure, and accepts again once descriptors are free.
func TestFaults_FileDescriptorsExhausted(t *testing.T) {
	runner := newAgentRunner(t, t.TempDir())
	runner.fileLimit = 40
	agent := runner.start(t)
	var conns []net.Conn
	for i := 0; i < 60; i++ {
		c, err := net.DialTimeout("tcp", runner.spoeAddr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor(t, 10*time.Second, "the agent to run out of descriptors", func() bool {
		return strings.Contains(readFile(t, runner.logs), "accepting an SPOP connection failed")
	})
	for _, c := range conns {
		c.Close()
	}
	select {
	case <-agent.done:
		t.Fatalf("the agent exited: %v\n%s", agent.err, readFile(t, runner.logs))
	default:
	}
	// Descriptors free again: HAProxy's next connection is served.
	waitFor(t, 20*time.Second, "a connection to be served again", func() bool {
		c, err := net.DialTimeout("tcp", runner.spoeAddr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(spopHello()); err != nil {
			return false
		}
		var hdr [5]byte
		_, err = io.ReadFull(c, hdr[:])
		return err == nil && hdr[4] == 0x65 // AGENT-HELLO
	})
}

// TestFaults_HostileConnectionsWithHAProxy attacks the agent's SPOP port
// with silent, slowloris and garbage connections while real clients go
// through HAProxy: every client is answered and counted exactly.
//
// HAProxy itself can fail a message now and then while the attack runs (an
// I/O error on its side, "st=1" in its log: 3 clients of 200 lost both
// requests once in CI), as it does around any disturbance; a real client
// sends more requests. So clients not yet counted after two requests send
// more (up to three rounds), all within the idle timeout: every client is
// then counted, and none twice.
func TestFaults_HostileConnectionsWithHAProxy(t *testing.T) {
	runner := newAgentRunner(t, t.TempDir(), "--idle-timeout", "10s", "--flush-interval", "200ms")
	agent := runner.start(t)
	frontend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startHAProxy(t, writeConfig(t, haproxyConfig{FrontendAddr: frontend, AppAddr: startApp(t), AgentAddr: runner.spoeAddr}))
	agent.awaitHAProxy(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", runner.spoeAddr, time.Second)
				if err != nil {
					continue
				}
				switch i % 3 {
				case 0: // silent until closed
				case 1: // slowloris: a HELLO, then a byte at a time
					_, _ = c.Write(spopHello())
					for _, b := range []byte{0, 0, 0, 50, 3, 0, 0} {
						time.Sleep(100 * time.Millisecond)
						if _, err := c.Write([]byte{b}); err != nil {
							break
						}
					}
				case 2: // garbage
					_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: agent\r\n\r\n"))
				}
				_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
				_, _ = io.Copy(io.Discard, c) // until the agent closes it
				c.Close()
			}
		}(i)
	}
	users := e2eClients("127.67", 200)
	if f := run(context.Background(), frontend, users, 2); len(f) > 0 {
		t.Fatalf("%d requests failed under attack, first: %s", len(f), f[0])
	}
	for round := 0; round < 3 && metric(t, agent.metrics(t), "headcount_sessions_started_total") < float64(len(users)); round++ {
		t.Logf("round %d: %v of %d clients counted; they all send once more", round+1,
			metric(t, agent.metrics(t), "headcount_sessions_started_total"), len(users))
		if f := run(context.Background(), frontend, users, 1); len(f) > 0 {
			t.Fatalf("%d requests failed under attack, first: %s", len(f), f[0])
		}
	}
	close(stop)
	waitFor(t, 40*time.Second, "every session to end", func() bool {
		return metric(t, agent.metrics(t), "headcount_sessions_active") == 0
	})
	m := agent.metrics(t)
	if got := metric(t, m, `headcount_sessions_completed_total{reason="idle"}`); got != float64(len(users)) {
		t.Errorf("completed %v sessions for %d clients under attack", got, len(users))
	}
	t.Logf("under attack by 30 hostile connections: %d clients counted; %v frames refused",
		len(users), metric(t, m, "headcount_spoe_refused_frames_total"))
	wg.Wait()
}

// spopHello is a HAPROXY-HELLO frame, as HAProxy sends it.
func spopHello() []byte {
	f := frame.AcquireFrame()
	defer frame.ReleaseFrame(f)
	f.Type = frame.TypeHaproxyHello
	f.KV.Add("supported-versions", "2.0")
	f.KV.Add("max-frame-size", uint32(16380))
	f.KV.Add("capabilities", "pipelining")
	var b bytes.Buffer
	if _, err := f.Encode(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}
