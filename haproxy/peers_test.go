package haproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExample_HeartbeatPeers runs examples/heartbeat-peers: two HAProxy
// instances sharing their client table through "peers", one agent. A client
// announced by one instance is not announced again by the other; a client
// only the second one has seen is announced by it.
func TestExample_HeartbeatPeers(t *testing.T) {
	dir := t.TempDir()
	runner := newAgentRunner(t, dir, "--heartbeat", "60s", "--flush-interval", "200ms")
	agent := runner.start(t)
	app := startApp(t)
	const example = "../examples/heartbeat-peers/haproxy.cfg"
	raw := readFile(t, example)
	spoe := filepath.Join(dir, "headcount-heartbeat.spoe.conf")
	writeFile(t, spoe, readFile(t, "headcount-heartbeat.spoe.conf"))
	patientSPOE(t, spoe)
	peer1, peer2 := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	fronts := map[string]string{}
	for _, name := range []string{"hap1", "hap2"} {
		front := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		text := raw
		for old, new := range map[string]string{
			"peer hap1 192.0.2.11:10000\n":                                      "peer hap1 " + peer1 + "\n",
			"peer hap2 192.0.2.12:10000\n":                                      "peer hap2 " + peer2 + "\n",
			"bind :8080\n":                                                      "bind " + front + "\n",
			"server app1 127.0.0.1:8081\n":                                      "server app1 " + app + "\n",
			"server agent1 192.0.2.20:12345 ":                                   "server agent1 " + runner.spoeAddr + " ",
			"/etc/haproxy/headcount-heartbeat.spoe.conf":                        spoe,
			"    # stats socket /run/haproxy/admin.sock mode 660 level admin\n": "    stats socket " + filepath.Join(dir, name+".sock") + " mode 600 level admin\n",
		} {
			text = mustReplaceOnce(t, example, text, old, new)
		}
		cfg := filepath.Join(dir, name+".cfg")
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		startHAProxy(t, cfg, "-L", name)
		fronts[name] = front
	}
	ctx := context.Background()
	waitFor(t, 10*time.Second, "both instances' health checks to reach the agent", func() bool {
		r, _ := agent.readiness(t)
		return r.HAProxyConnected
	})
	messages := func() float64 { return metric(t, agent.metrics(t), "headcount_spoe_messages_total") }

	shared := e2eClients("127.73", 40)
	if f := run(ctx, fronts["hap1"], shared, 1); len(f) > 0 {
		t.Fatalf("hap1: %d requests failed, first: %s", len(f), f[0])
	}
	waitFor(t, 10*time.Second, "hap1's heartbeats", func() bool { return messages() >= float64(len(shared)) })
	// Peers push table updates in the background: wait until hap2's table
	// holds every client hap1 told the agent about, with its next heartbeat
	// time. hap1 creates a client's entry before the agent answers and sets
	// the time after: a push in between gives hap2 an entry still due (seen
	// once on a loaded machine: 57 messages for 50 clients).
	waitFor(t, 10*time.Second, "hap1's table updates to reach hap2", func() bool {
		return tableTold(t, filepath.Join(dir, "hap2.sock"), "headcount_clients") >= len(shared)
	})
	if f := run(ctx, fronts["hap2"], shared, 2); len(f) > 0 {
		t.Fatalf("hap2: %d requests failed, first: %s", len(f), f[0])
	}
	onlyHap2 := e2eClients("127.72", 10)
	if f := run(ctx, fronts["hap2"], onlyHap2, 1); len(f) > 0 {
		t.Fatalf("hap2: %d requests failed, first: %s", len(f), f[0])
	}
	want := float64(len(shared) + len(onlyHap2))
	waitFor(t, 10*time.Second, "hap2's heartbeats for its own clients", func() bool { return messages() >= want })
	// Every request waited for its message's ACK (the SPOE filter holds the
	// request until then), so all that hap2 sent has been counted by now.
	// Peers replicate in the background, so on a loaded machine hap2 can
	// still send a client's heartbeat now and then (51 of 50 seen in CI);
	// without the peers section it would send one for every shared client.
	// The sessions are exact either way: the agent knows the client.
	m := agent.metrics(t)
	if got := metric(t, m, "headcount_spoe_messages_total"); got < want || got > want+float64(len(shared))/10 {
		t.Errorf("the agent received %v messages, want %v (up to %d more): one per client, whichever instance saw it",
			got, want, len(shared)/10)
	}
	if got := metric(t, m, "headcount_sessions_started_total"); got != want {
		t.Errorf("%v sessions started, want %v", got, want)
	}
	if !strings.Contains(raw, "peers headcount_peers") {
		t.Errorf("the example lost its peers section")
	}
	t.Logf("2 HAProxy instances with peers: %v clients, %d requests, %v messages",
		want, 3*len(shared)+len(onlyHap2), metric(t, m, "headcount_spoe_messages_total"))
}

// tableTold returns the number of entries of the stick table named table
// whose gpt0 (the time the client's next heartbeat is due) is set, asked of
// HAProxy's runtime API on the stats socket sock: lines like
// "0x55f4cd935fc8: key=… use=0 exp=299553 [shard=0 ]gpt0=1764496800 gpt1=0".
func tableTold(t testing.TB, sock, table string) int {
	t.Helper()
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return -1 // not listening yet
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("show table " + table + "\n")); err != nil {
		return -1
	}
	out, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(out), "# table: "+table+",") {
		t.Fatalf("show table %s: %q", table, out)
	}
	told := 0
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, " key=") {
			continue
		}
		_, v, ok := strings.Cut(line, " gpt0=")
		if !ok {
			t.Fatalf("show table %s: no gpt0 in %q", table, line)
		}
		if n, err := strconv.ParseUint(strings.Fields(v)[0], 10, 64); err != nil {
			t.Fatalf("show table %s: gpt0 in %q: %v", table, line, err)
		} else if n != 0 {
			told++
		}
	}
	return told
}

// TestExample_HeartbeatPeersIsShipped: examples/heartbeat-peers/haproxy.cfg
// is the shipped haproxy-heartbeat.cfg with only what its header says
// changed: the header itself, the peers section, the bind address, the
// table's "peers" keyword and the agent's address.
func TestExample_HeartbeatPeersIsShipped(t *testing.T) {
	const example = "../examples/heartbeat-peers/haproxy.cfg"
	const marker = "# --- the shipped file's notes follow ---\n"
	got := readFile(t, example)
	header, _, ok := strings.Cut(got, marker)
	if !ok {
		t.Fatalf("%s has no line %q", example, marker)
	}
	shipped := readFile(t, "haproxy-heartbeat.cfg")
	_, body, _ := strings.Cut(shipped, "\n") // the shipped file's first line names it
	for _, r := range [][2]string{
		{"\ndefaults\n", "\n# The instances sharing the client table. Each name must be the -L name (or\n" +
			"# \"localpeer\") of one instance; the port is the one they talk on.\n" +
			"peers headcount_peers\n    peer hap1 192.0.2.11:10000\n    peer hap2 192.0.2.12:10000\n\ndefaults\n"},
		{"    bind 127.0.0.1:8080\n", "    bind :8080\n"},
		{" store gpt(2)\n", " store gpt(2) peers headcount_peers\n"},
		{"server agent1 127.0.0.1:12345 ", "server agent1 192.0.2.20:12345 "},
	} {
		body = mustReplaceOnce(t, "haproxy-heartbeat.cfg", body, r[0], r[1])
	}
	if want := header + marker + body; got != want {
		t.Errorf("%s differs from the shipped haproxy-heartbeat.cfg beyond its stated changes; regenerate it:\n%s", example, firstDiff(got, want))
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n  got:  %q\n  want: %q", i+1, gl, wl)
		}
	}
	return "(equal)"
}
