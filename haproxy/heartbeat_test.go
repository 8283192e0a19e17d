package haproxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The heartbeat configuration's rule that sets the interval (60 s as
// shipped); tests substitute a shorter one.
const heartbeatRule, heartbeatRuleEnd = "set-var(txn.hc_next) date,add(", ") if headcount_told\n"

// heartbeatSetup is the heartbeat configuration behind a real HAProxy with
// the real agent, whose warm-up requests (excluded from metering) have
// reached the agent.
type heartbeatSetup struct {
	runner   agentRunner
	agent    *agentProc
	frontend string
}

// startHeartbeat starts the agent with args (plus --heartbeat) and HAProxy
// running haproxy-heartbeat.cfg with interval seconds instead of 60.
func startHeartbeat(t *testing.T, interval int, args ...string) *heartbeatSetup {
	t.Helper()
	dir := t.TempDir()
	runner := newAgentRunner(t, dir, append([]string{"--heartbeat", fmt.Sprintf("%ds", interval), "--flush-interval", "200ms", "--exclude-ua", "^headcount-warmup$"}, args...)...)
	agent := runner.start(t)
	frontend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := writeConfig(t, haproxyConfig{FrontendAddr: frontend, AppAddr: startApp(t), AgentAddr: runner.spoeAddr, Heartbeat: true})
	writeFile(t, cfg, mustReplaceOnce(t, "haproxy-heartbeat.cfg", readFile(t, cfg), heartbeatRule+"60"+heartbeatRuleEnd, fmt.Sprintf("%s%d%s", heartbeatRule, interval, heartbeatRuleEnd)))
	patientSPOE(t, cfg)
	startHAProxy(t, cfg)
	agent.awaitHAProxy(t)
	warmUp(t, agent, frontend)
	return &heartbeatSetup{runner: runner, agent: agent, frontend: frontend}
}

// patientSPOE raises the SPOE "timeout processing" of the heartbeat SPOE
// file next to cfg from 20ms to 2s. A heartbeat whose ACK comes too late is
// sent again with the client's next request, by design, and one that waited
// too long for a new agent connection is not sent at all; the tests that
// count messages exactly must not see either because the agent, built with
// the race detector on a loaded machine, answered slowly.
func patientSPOE(t *testing.T, cfg string) {
	t.Helper()
	spoe := filepath.Join(filepath.Dir(cfg), "headcount-heartbeat.spoe.conf")
	writeFile(t, spoe, mustReplaceOnce(t, "headcount-heartbeat.spoe.conf", readFile(t, spoe), "timeout processing 20ms\n", "timeout processing 2s\n"))
}

// warmUp sends excluded requests, each from a new client, until one reaches
// the agent.
func warmUp(t *testing.T, agent *agentProc, frontend string) {
	t.Helper()
	before := metric(t, agent.metrics(t), "headcount_spoe_messages_total")
	n := 0
	waitFor(t, 10*time.Second, "a warm-up message to reach the agent", func() bool {
		n++
		warm := client{src: "127.0.0.1", ua: "headcount-warmup", xff: fmt.Sprintf("192.0.2.%d", n%250)}
		if status, err := warm.send(context.Background(), frontend, "/"); err != nil || status != 200 {
			t.Fatalf("warm-up request: %d %v", status, err)
		}
		return metric(t, agent.metrics(t), "headcount_spoe_messages_total") > before
	})
}

// TestHeartbeat_LostMessageIsSentAgain: a client's first heartbeat is lost
// (the agent is stopped), the agent comes back, and the client's next
// request, well within the 60 s interval, tells it: the short session is
// counted. The client's later requests within the interval are not sent
// (it is noted as told once the agent answered).
func TestHeartbeat_LostMessageIsSentAgain(t *testing.T) {
	hb := startHeartbeat(t, 60, "--idle-timeout", "2s")
	ctx := context.Background()
	if code := hb.agent.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("agent exited with %d on SIGTERM", code)
	}
	u := client{src: "127.73.0.5", ua: "Mozilla/5.0 (heartbeat-lost-first)"}
	if status, err := u.send(ctx, hb.frontend, "/first"); err != nil || status != 200 {
		t.Fatalf("first request with the agent stopped: %d %v", status, err)
	}

	agent := hb.runner.start(t)
	agent.awaitHAProxy(t)
	sent := 0
	waitFor(t, 20*time.Second, "a later request of the client to tell the restarted agent", func() bool {
		if status, err := u.send(ctx, hb.frontend, "/next"); err != nil || status != 200 {
			t.Fatalf("request: %d %v", status, err)
		}
		sent++
		return metric(t, agent.metrics(t), "headcount_sessions_started_total") == 1
	})
	m := agent.metrics(t)
	messages := metric(t, m, "headcount_spoe_messages_total")
	for i := 0; i < 5; i++ {
		if status, err := u.send(ctx, hb.frontend, "/more"); err != nil || status != 200 {
			t.Fatalf("request: %d %v", status, err)
		}
	}
	warmUp(t, agent, hb.frontend) // one more message, after any of the client's
	m = agent.metrics(t)
	if got := metric(t, m, "headcount_spoe_messages_total") - messages; got != 1 {
		t.Errorf("%v messages after the client was told (5 more requests of it, then one warm-up), want only the warm-up's: a client is told once per interval", got)
	}
	if got := metric(t, m, "headcount_sessions_active"); got != 1 {
		t.Errorf("live sessions = %v, want 1", got)
	}
	t.Logf("the client was told on its request %d after the agent came back", sent)
}

// TestHeartbeat_MaxSessionAsPerRequest: a client making a request every
// 250 ms for 8 s, with --max-session 4s, counts two sessions in both modes:
// heartbeat mode tells the agent about the first request past the session's
// maximum (the agent says when, in its ACK) instead of waiting for the
// interval (10 s here), which counted one.
func TestHeartbeat_MaxSessionAsPerRequest(t *testing.T) {
	pattern := func(t *testing.T, frontend string) {
		u := client{src: "127.72.0.8", ua: "Mozilla/5.0 (heartbeat-max-session)"}
		for start := time.Now(); time.Since(start) < 8*time.Second; time.Sleep(250 * time.Millisecond) {
			if status, err := u.send(context.Background(), frontend, "/"); err != nil || status != 200 {
				t.Fatalf("request: %d %v", status, err)
			}
		}
	}
	counts := map[string]float64{}
	t.Run("per-request", func(t *testing.T) {
		runner := newAgentRunner(t, t.TempDir(), "--max-session", "4s", "--idle-timeout", "1s", "--flush-interval", "200ms", "--exclude-ua", "^headcount-warmup$")
		agent := runner.start(t)
		frontend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		startHAProxy(t, writeConfig(t, haproxyConfig{FrontendAddr: frontend, AppAddr: startApp(t), AgentAddr: runner.spoeAddr}))
		agent.awaitHAProxy(t)
		warmUp(t, agent, frontend)
		pattern(t, frontend)
		m := agent.metrics(t)
		counts["per-request"] = metric(t, m, "headcount_sessions_started_total")
		if got := metric(t, m, `headcount_sessions_completed_total{reason="max"}`); got != 1 {
			t.Errorf("completed (max) = %v, want 1", got)
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		hb := startHeartbeat(t, 10, "--max-session", "4s", "--idle-timeout", "1s")
		pattern(t, hb.frontend)
		m := hb.agent.metrics(t)
		counts["heartbeat"] = metric(t, m, "headcount_sessions_started_total")
		if got := metric(t, m, `headcount_sessions_completed_total{reason="max"}`); got != 1 {
			t.Errorf("completed (max) = %v, want 1", got)
		}
		if got := metric(t, m, "headcount_spoe_messages_total"); got != 3 {
			t.Errorf("%v messages, want 3: the warm-up, the client's first request, its first request past the maximum", got)
		}
	})
	if counts["per-request"] != 2 || counts["heartbeat"] != 2 {
		t.Errorf("sessions started: %v, want 2 in each mode", counts)
	}
}

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
	writeFile(t, cfg, mustReplaceOnce(t, "haproxy-heartbeat.cfg", raw, heartbeatRule+"60"+heartbeatRuleEnd, heartbeatRule+"2"+heartbeatRuleEnd))
	patientSPOE(t, cfg)
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
