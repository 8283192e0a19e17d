package haproxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// showTable asks HAProxy's runtime API for a stick table's entries.
func showTable(t *testing.T, socket, table string) (entries int, text string) {
	t.Helper()
	c, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		t.Fatalf("stats socket: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "show table %s\n", table); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := sc.Text()
		b.WriteString(line + "\n")
		if strings.HasPrefix(line, "0x") {
			entries++
		}
	}
	return entries, b.String()
}

// TestEndToEnd_Heartbeat runs the heartbeat configuration with the agent in
// heartbeat mode on the traffic of TestEndToEnd's first phase: the same
// completed count, with one message per client instead of one per request.
// The interval is 2 s instead of 60 s, in both HAProxy's ACL and the agent's
// --heartbeat, to keep the test short.
func TestEndToEnd_Heartbeat(t *testing.T) {
	dir := t.TempDir()
	runner := newAgentRunner(t, dir, "--idle-timeout", "2s", "--heartbeat", "2s", "--flush-interval", "200ms", "--exclude-ua", "^headcount-warmup$")
	agent := runner.start(t)
	frontend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	socket := filepath.Join(dir, "haproxy.sock")
	cfg := writeConfig(t, haproxyConfig{FrontendAddr: frontend, AppAddr: startApp(t), AgentAddr: runner.spoeAddr, Heartbeat: true, StatsSocket: socket})
	raw := readFile(t, cfg)
	writeFile(t, cfg, mustReplaceOnce(t, "haproxy-heartbeat.cfg", raw, "date,sub(txn.hc_told) ge 60\n", "date,sub(txn.hc_told) ge 2\n"))
	startHAProxy(t, cfg)
	ctx := context.Background()

	agent.awaitHAProxy(t)
	warm := client{src: "127.0.0.1", ua: "headcount-warmup"}
	waitFor(t, 10*time.Second, "a warm-up heartbeat to reach the agent", func() bool {
		if status, err := warm.send(ctx, frontend, "/"); err != nil || status != 200 {
			t.Fatalf("warm-up request: %d %v", status, err)
		}
		return metric(t, agent.metrics(t), "headcount_spoe_messages_total") >= 1
	})
	before := metric(t, agent.metrics(t), "headcount_spoe_messages_total")

	users := e2eClients("127.75", 260)
	if f := run(ctx, frontend, users, 3); len(f) > 0 {
		t.Fatalf("%d requests failed, first: %s", len(f), f[0])
	}
	sent := metric(t, agent.metrics(t), "headcount_spoe_messages_total") - before
	if sent != float64(len(users)) {
		t.Errorf("%v messages for %d clients making 3 requests each within the heartbeat interval, want one per client", sent, len(users))
	}
	if n, text := showTable(t, socket, "headcount_clients"); n != len(users)+1 {
		t.Errorf("the stick table holds %d entries, want %d (the clients and the warm-up):\n%s", n, len(users)+1, text)
	}
	waitFor(t, 20*time.Second, "every session to end after idle timeout plus heartbeat", func() bool {
		m := agent.metrics(t)
		return metric(t, m, "headcount_sessions_active") == 0
	})
	m := agent.metrics(t)
	if got := metric(t, m, `headcount_sessions_completed_total{reason="idle"}`); got != float64(len(users)) {
		t.Errorf("completed (idle) = %v, want %d distinct clients, as in per-request mode", got, len(users))
	}

	// A logout is sent at once, and the next request is announced at once.
	u := client{src: "127.74.0.9", ua: "Mozilla/5.0 (heartbeat-logout-user)"}
	for _, path := range []string{"/a", "/app/logout", "/b"} {
		if status, err := u.send(ctx, frontend, path); err != nil || status != 200 {
			t.Fatalf("%s: %d %v", path, status, err)
		}
	}
	waitFor(t, 5*time.Second, "the logout and the new session", func() bool {
		m := agent.metrics(t)
		return metric(t, m, `headcount_sessions_completed_total{reason="logout"}`) == 1 &&
			metric(t, m, "headcount_sessions_started_total") == float64(len(users)+2)
	})
	t.Logf("heartbeat mode: %d clients, %d requests, %v messages, %v sessions completed",
		len(users), 3*len(users), sent, metric(t, m, `headcount_sessions_completed_total{reason="idle"}`))
}
