package haproxy

// The harness runs a real HAProxy with the shipped haproxy.cfg and
// headcount.spoe.conf. Only the listening addresses and the path of the SPOE
// file are substituted; everything else is exactly what operators install.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"headcount/internal/logbuf"
)

// Shipped files, relative to this package's directory.
const (
	shippedHAProxyCfg = "haproxy.cfg"
	shippedSPOEConf   = "headcount.spoe.conf"
)

// Substitution targets in the shipped haproxy.cfg. Each must occur exactly
// once; if the shipped file changes shape, writeConfig fails loudly instead
// of silently testing something else.
const (
	shippedFrontendBind = "bind 127.0.0.1:8080\n"
	shippedAppServer    = "server app1 127.0.0.1:8081\n"
	shippedAgentServer  = "server agent1 127.0.0.1:12345 "
)

// Deadlines of the harness.
const (
	haproxyReadyTimeout = 10 * time.Second // from start until the frontend accepts
	haproxyStopTimeout  = 5 * time.Second  // from SIGTERM until SIGKILL
	httpClientTimeout   = 2 * time.Second  // per request sent by get
)

// haproxyConfig holds the addresses substituted into the shipped haproxy.cfg.
type haproxyConfig struct {
	FrontendAddr string // host:port the "web" frontend binds (client side)
	AppAddr      string // host:port of the "app1" application server
	AgentAddr    string // host:port of the "agent1" SPOE agent server
	// Heartbeat selects the heartbeat configuration (haproxy-heartbeat.cfg
	// and headcount-heartbeat.spoe.conf) instead of the per-request one.
	Heartbeat bool
	// StatsSocket, when set, adds "stats socket <path> level admin" to the
	// global section, for tests that inspect HAProxy's state.
	StatsSocket string
}

// shippedFiles returns the haproxy.cfg and SPOE file of cfg's mode.
func (cfg haproxyConfig) shippedFiles() (haproxyCfg, spoeConf string) {
	if cfg.Heartbeat {
		return "haproxy-heartbeat.cfg", "headcount-heartbeat.spoe.conf"
	}
	return shippedHAProxyCfg, shippedSPOEConf
}

// freePort returns a loopback TCP port that was free a moment ago, taken
// below the kernel's ephemeral range (net.ipv4.ip_local_port_range). A port
// from inside that range, as "127.0.0.1:0" gives, can be taken as the source
// port of any outgoing connection (a test client, HAProxy connecting to the
// agent) before HAProxy or the agent binds it: HAProxy then fails to start
// with "Address already in use", as seen once in CI. Below the range only an
// explicit bind can take it, and every test binds what freePort handed out,
// each port once per process.
func freePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	lo, hi := portRange()
	if nextPort == 0 {
		nextPort = lo + rand.IntN(hi-lo)
	}
	for range hi - lo {
		p := nextPort
		if nextPort++; nextPort >= hi {
			nextPort = lo
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatalf("freePort: no free port in [%d, %d)", lo, hi)
	return 0
}

var (
	portMu   sync.Mutex
	nextPort int
)

// portRange is where freePort takes ports from: the 12,000 ports below the
// ephemeral range, or 20000-32000 when the range cannot be read.
func portRange() (lo, hi int) {
	lo, hi = 20000, 32000
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var first, last int
	if _, err := fmt.Sscan(string(b), &first, &last); err != nil || first-12000 < 1024 {
		return lo, hi
	}
	return first - 12000, first
}

// writeConfig writes the shipped haproxy.cfg, with cfg's addresses and the
// path of the copied headcount.spoe.conf substituted, and the unchanged
// headcount.spoe.conf into a fresh t.TempDir, and returns the haproxy.cfg path.
func writeConfig(t testing.TB, cfg haproxyConfig) (cfgPath string) {
	t.Helper()
	for name, addr := range map[string]string{
		"FrontendAddr": cfg.FrontendAddr, "AppAddr": cfg.AppAddr, "AgentAddr": cfg.AgentAddr,
	} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			t.Fatalf("writeConfig: %s %q is not host:port: %v", name, addr, err)
		}
	}
	dir := t.TempDir()
	haproxyFile, spoeFile := cfg.shippedFiles()
	spoePath := filepath.Join(dir, spoeFile)

	spoe, err := os.ReadFile(spoeFile)
	if err != nil {
		t.Fatalf("writeConfig: %v", err)
	}
	if err := os.WriteFile(spoePath, spoe, 0o644); err != nil {
		t.Fatalf("writeConfig: %v", err)
	}

	raw, err := os.ReadFile(haproxyFile)
	if err != nil {
		t.Fatalf("writeConfig: %v", err)
	}
	text := string(raw)
	text = mustReplaceOnce(t, haproxyFile, text, shippedFrontendBind, "bind "+cfg.FrontendAddr+"\n")
	text = mustReplaceOnce(t, haproxyFile, text, shippedAppServer, "server app1 "+cfg.AppAddr+"\n")
	text = mustReplaceOnce(t, haproxyFile, text, shippedAgentServer, "server agent1 "+cfg.AgentAddr+" ")
	text = mustReplaceOnce(t, haproxyFile, text, " config /etc/haproxy/"+spoeFile+"\n", " config "+spoePath+"\n")
	if cfg.StatsSocket != "" {
		text = mustReplaceOnce(t, haproxyFile, text, "\nglobal\n", "\nglobal\n    stats socket "+cfg.StatsSocket+" level admin\n")
	}

	cfgPath = filepath.Join(dir, haproxyFile)
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatalf("writeConfig: %v", err)
	}
	return cfgPath
}

// mustReplaceOnce replaces old by new in text, failing the test unless old
// occurs exactly once in the file named file.
func mustReplaceOnce(t testing.TB, file, text, old, new string) string {
	t.Helper()
	if n := strings.Count(text, old); n != 1 {
		t.Fatalf("shipped %s: substitution target %q occurs %d times, want exactly 1; "+
			"update the harness together with the shipped file", file, old, n)
	}
	return strings.Replace(text, old, new, 1)
}

// haproxyBin returns the path of the haproxy binary under test, failing the
// test if there is none: these tests prove the shipped configuration and must
// never be skipped. $HAPROXY names it (make test sets it once per binary of
// HAPROXY_BINS); without it, the haproxy on PATH, else /usr/sbin/haproxy.
func haproxyBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HAPROXY"); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			t.Fatalf("HAPROXY=%s is not an executable file (err: %v)", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	const debianPath = "/usr/sbin/haproxy"
	if fi, err := os.Stat(debianPath); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return debianPath
	}
	t.Fatalf("haproxy not found: set HAPROXY, or install it (apt-get install haproxy) in PATH " +
		"or at /usr/sbin/haproxy; the shipped configuration is tested against a real HAProxy")
	return ""
}

// checkConfig runs "haproxy -c -f cfgPath", fails the test with HAProxy's
// output if it rejects the configuration, and returns that output.
func checkConfig(t testing.TB, cfgPath string, args ...string) (output string) {
	t.Helper()
	out, err := exec.Command(haproxyBin(t), append(append([]string{"-c"}, args...), "-f", cfgPath)...).CombinedOutput()
	if err != nil {
		t.Fatalf("haproxy -c -f %s: %v\n%s", cfgPath, err, out)
	}
	return string(out)
}

// haproxyProc is a running HAProxy started by startHAProxy.
type haproxyProc struct {
	cmd  *exec.Cmd
	out  *logbuf.Buffer // HAProxy's stdout and stderr (logs, alerts)
	done chan struct{}  // closed once the process has been waited for
	err  error          // cmd.Wait's result, valid after done is closed
}

// Output returns everything HAProxy printed so far.
func (p *haproxyProc) Output() string { return p.out.String() }

// waitForOutput waits until HAProxy has printed substr, and reports whether it
// did before timeout.
func (p *haproxyProc) waitForOutput(substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(p.out.String(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startHAProxy checks cfgPath with "haproxy -c", starts HAProxy in the
// foreground with it, and returns once the frontend accepts TCP connections.
// HAProxy is stopped by PID (SIGTERM, then SIGKILL) when the test ends, and
// its output is logged if the test failed or runs verbose.
func startHAProxy(t testing.TB, cfgPath string, args ...string) *haproxyProc {
	t.Helper()
	bin := haproxyBin(t)
	checkConfig(t, cfgPath, args...)
	frontend := frontendAddr(t, cfgPath)

	p := &haproxyProc{
		cmd:  exec.Command(bin, append(append([]string{}, args...), "-f", cfgPath, "-db")...),
		out:  &logbuf.Buffer{},
		done: make(chan struct{}),
	}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() || testing.Verbose() {
			t.Logf("haproxy (pid %d) output:\n%s", p.cmd.Process.Pid, p.Output())
		}
	})

	deadline := time.Now().Add(haproxyReadyTimeout)
	for {
		select {
		case <-p.done:
			t.Fatalf("haproxy exited before its frontend %s accepted connections: %v\n%s",
				frontend, p.err, p.Output())
		default:
		}
		conn, err := net.DialTimeout("tcp", frontend, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy frontend %s not accepting connections after %v: %v\n%s",
				frontend, haproxyReadyTimeout, err, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends HAProxy by PID: SIGTERM, then SIGKILL after haproxyStopTimeout,
// and waits for it.
func (p *haproxyProc) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SIGTERM haproxy (pid %d): %v", p.cmd.Process.Pid, err)
	}
	select {
	case <-p.done:
	case <-time.After(haproxyStopTimeout):
		t.Errorf("haproxy (pid %d) still running %v after SIGTERM; sending SIGKILL",
			p.cmd.Process.Pid, haproxyStopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// frontendAddr returns the address of the first "bind" line of cfgPath.
func frontendAddr(t testing.TB, cfgPath string) string {
	t.Helper()
	f, err := os.Open(cfgPath)
	if err != nil {
		t.Fatalf("frontendAddr: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "bind" {
			return fields[1]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("frontendAddr: %v", err)
	}
	t.Fatalf("frontendAddr: no bind line in %s", cfgPath)
	return ""
}

// get sends GET url and returns the response status. ua and xff are sent as
// the User-Agent and X-Forwarded-For headers; an empty string sends no such
// header at all. Any transport error or a response slower than
// httpClientTimeout fails the test.
func get(t testing.TB, url, ua, xff string) (status int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	// net/http adds its default User-Agent only when the key is absent, and
	// writes none when the value is empty: Set("User-Agent", "") sends no
	// User-Agent header (see net/http.Request.write).
	req.Header.Set("User-Agent", ua)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	client := &http.Client{
		Timeout: httpClientTimeout,
		Transport: &http.Transport{
			Proxy:             nil, // never an HTTP_PROXY from the environment
			DisableKeepAlives: true,
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("get %s (ua %.40q, xff %q): %v", url, ua, xff, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("get %s: reading body: %v", url, err)
	}
	return resp.StatusCode
}

// startApp starts an application server on loopback that answers 200 "ok"
// to every request, and returns its host:port. It is closed when the test ends.
func startApp(t testing.TB) (addr string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}
