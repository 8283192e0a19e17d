package haproxy

// Helpers that run the real headcount agent binary next to a real HAProxy.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"headcount/internal/promtext"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// agentBin is the headcount binary the end-to-end tests run: $HEADCOUNT_BIN,
// or one built with the race detector by TestMain.
var agentBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	agentBin = os.Getenv("HEADCOUNT_BIN")
	if agentBin == "" {
		dir, err := os.MkdirTemp("", "headcount-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		agentBin = filepath.Join(dir, "headcount")
		build := exec.Command("go", "build", "-race", "-o", agentBin, "headcount/cmd/headcount")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the agent: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// agentProc is a running `headcount serve`.
type agentProc struct {
	cmd       *exec.Cmd
	spoeAddr  string
	adminAddr string
	db        string
	logPath   string
	done      chan struct{}
	err       error
}

// agentRunner starts the agent, again and again, with the same addresses,
// database, log file and flags. Agents it starts are killed, if still
// running, when owner's test ends (not the subtest that started them).
type agentRunner struct {
	owner                         testing.TB
	spoeAddr, adminAddr, db, logs string
	args                          []string
	fileLimit                     int // when set, the agent runs with this many file descriptors at most
	// wrap, when set, is a command the agent runs under (e.g. strace and
	// its options): wrap[0] wrap[1:]... agentBin args...
	wrap []string
}

// newAgentRunner returns a runner on free loopback ports with its database
// and log in dir, whose agents run with args.
func newAgentRunner(t testing.TB, dir string, args ...string) agentRunner {
	return agentRunner{
		owner:     t,
		spoeAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		adminAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		db:        filepath.Join(dir, "headcount.db"),
		logs:      filepath.Join(dir, "agent.log"),
		args:      args,
	}
}

// start starts the agent, appends its log to r.logs, and returns once
// /readyz answers.
func (r agentRunner) start(t testing.TB) *agentProc {
	t.Helper()
	a, ok := r.tryStart(t)
	if !ok {
		t.Fatalf("agent exited at start: %v\n%s", a.err, readFile(t, r.logs))
	}
	return a
}

// tryStart is start, reporting false instead of failing the test when the
// agent exits before /readyz answers.
func (r agentRunner) tryStart(t testing.TB) (*agentProc, bool) {
	t.Helper()
	spoeAddr, adminAddr, db, logPath := r.spoeAddr, r.adminAddr, r.db, r.logs
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]string{"serve", "--spoe-addr", spoeAddr, "--admin-addr", adminAddr, "--db", db}, r.args...)
	cmd := exec.Command(agentBin, all...)
	if r.fileLimit > 0 {
		cmd = exec.Command("bash", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, r.fileLimit), agentBin}, all...)...)
	}
	if len(r.wrap) > 0 {
		cmd = exec.Command(r.wrap[0], append(append(r.wrap[1:len(r.wrap):len(r.wrap)], agentBin), all...)...)
	}
	a := &agentProc{
		cmd:       cmd,
		spoeAddr:  spoeAddr,
		adminAddr: adminAddr,
		db:        db,
		logPath:   logPath,
		done:      make(chan struct{}),
	}
	a.cmd.Stdout, a.cmd.Stderr = log, log
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start agent: %v", err)
	}
	go func() {
		a.err = a.cmd.Wait()
		log.Close()
		close(a.done)
	}()
	r.owner.Cleanup(func() {
		select {
		case <-a.done:
		default:
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	})
	exited := false
	waitFor(t, 20*time.Second, "agent /readyz", func() bool {
		select {
		case <-a.done:
			exited = true
			return true
		default:
		}
		status, _ := httpGet(a.url("/readyz"))
		return status == http.StatusOK
	})
	return a, !exited
}

func (a *agentProc) url(path string) string { return "http://" + a.adminAddr + path }

// signal sends sig and waits for the agent to exit, returning its exit code.
func (a *agentProc) stop(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal agent: %v", err)
	}
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("agent still running 20s after %v", sig)
	}
	var ee *exec.ExitError
	if errors.As(a.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if a.err != nil {
		t.Fatalf("agent: %v", a.err)
	}
	return 0
}

// readiness returns /readyz's body.
func (a *agentProc) readiness(t testing.TB) (r struct {
	HAProxyConnected bool       `json:"haproxy_connected"`
	SPOPConnections  int        `json:"spop_connections"`
	LiveSessions     int        `json:"live_sessions"`
	LastFlush        *time.Time `json:"last_flush"`
}, body string) {
	t.Helper()
	status, body := httpGet(a.url("/readyz"))
	if status != http.StatusOK {
		t.Fatalf("/readyz: status %d %s", status, body)
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	return r, body
}

// awaitHAProxy waits until HAProxy's health checks reach the agent.
func (a *agentProc) awaitHAProxy(t testing.TB) {
	t.Helper()
	waitFor(t, 10*time.Second, "HAProxy's health check to reach the agent", func() bool {
		r, _ := a.readiness(t)
		return r.HAProxyConnected
	})
}

// metrics scrapes /metrics and returns its text.
func (a *agentProc) metrics(t testing.TB) string {
	t.Helper()
	status, body := httpGet(a.url("/metrics"))
	if status != http.StatusOK {
		t.Fatalf("/metrics: status %d", status)
	}
	return body
}

// metric returns the sum of the samples series selects (a name, with labels
// as Prometheus prints them, matching every sample that has those labels:
// see promtext.Sum) in a /metrics text.
func metric(t testing.TB, text, series string) float64 {
	t.Helper()
	v, ok := promtext.Sum(text, series)
	if !ok {
		t.Fatalf("metric %s not found in:\n%s", series, text)
	}
	return v
}

func httpGet(url string) (int, string) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond every 50ms until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// client is one simulated user: a source address on the loopback network
// and the two headers.
type client struct {
	src, ua, xff string
}

// send makes one GET through HAProxy from the client's source address and
// returns the status (0 and the error on a transport failure).
func (c client) send(ctx context.Context, frontend, path string) (int, error) {
	dialer := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.src)}}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: dialer.DialContext}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+frontend+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", c.ua) // "" sends no User-Agent at all
	if c.xff != "" {
		req.Header.Set("X-Forwarded-For", c.xff)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
