package haproxy

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"headcount/agent/spop/spoptest"
)

// TestTrustedProxies drives one client through a real HAProxy with a new
// X-Forwarded-For on every request. HAProxy's src is the client
// (127.0.0.1): with --trusted-proxies 10.0.0.0/8 it is not a trusted proxy,
// so the header is left out of the key and the 200 requests are one
// session; with --trusted-proxies 127.0.0.0/8 the header is believed and
// each value is a session of its own.
func TestTrustedProxies(t *testing.T) {
	for _, tc := range []struct{ trusted string }{{"10.0.0.0/8"}, {"127.0.0.0/8"}} {
		t.Run(tc.trusted, func(t *testing.T) {
			runner := newAgentRunner(t, t.TempDir(), "--trusted-proxies", tc.trusted)
			agent := runner.start(t)
			frontend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			startHAProxy(t, writeConfig(t, haproxyConfig{FrontendAddr: frontend, AppAddr: startApp(t), AgentAddr: runner.spoeAddr}))
			agent.awaitHAProxy(t)
			for i := 0; i < 200; i++ {
				if status := get(t, "http://"+frontend+"/", "Mozilla/5.0 (rotating)", fmt.Sprintf("198.51.%d.%d", i/250, i%250+1)); status != 200 {
					t.Fatalf("request %d: status %d", i, status)
				}
			}
			// HAProxy gives up on a message the agent does not answer within
			// its processing timeout (a loaded machine): compare with the
			// messages that arrived, once they stop arriving.
			messages := func() float64 { return metric(t, agent.metrics(t), "headcount_spoe_messages_total") }
			seen := -1.0
			waitFor(t, 10e9, "the messages to stop arriving", func() bool {
				n := messages()
				done := n == seen || n == 200
				seen = n
				time.Sleep(100 * time.Millisecond)
				return done
			})
			m := agent.metrics(t)
			started, ignored := metric(t, m, "headcount_sessions_started_total"), metric(t, m, "headcount_xff_ignored_total")
			t.Logf("--trusted-proxies %s: 200 requests rotating X-Forwarded-For, %v messages: %v sessions, %v headers ignored", tc.trusted, seen, started, ignored)
			if seen < 150 {
				t.Fatalf("only %v of 200 requests reached the agent", seen)
			}
			wantSessions, wantIgnored := 1.0, seen
			if tc.trusted == "127.0.0.0/8" {
				wantSessions, wantIgnored = seen, 0
			}
			if started != wantSessions || ignored != wantIgnored {
				t.Errorf("%v sessions, %v headers ignored; want %v and %v", started, ignored, wantSessions, wantIgnored)
			}
			if code := agent.stop(t, syscall.SIGTERM); code != 0 {
				t.Errorf("agent exit status %d", code)
			}
			logs := readFile(t, runner.logs)
			if !strings.Contains(logs, `"trusted_proxies":["`+tc.trusted+`"]`) {
				t.Errorf("no start-up line naming the trusted proxies:\n%s", logs)
			}
		})
	}
}

// TestExclusionFiles_Reload: the exclusion files are read at start and
// again on SIGHUP; what they list is not metered; a broken file keeps the
// lists in force; nothing from them reaches the log.
func TestExclusionFiles_Reload(t *testing.T) {
	dir := t.TempDir()
	ipFile, keyFile := filepath.Join(dir, "exclude-ips.txt"), filepath.Join(dir, "exclude-keys.txt")
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(ipFile, "192.0.2.0/24\n")
	write(keyFile, `203.0.113.50 "Monitor/2.1 secret-probe" "-"`+"\n")
	runner := newAgentRunner(t, dir, "--exclude-ip-file", ipFile, "--exclude-key-file", keyFile)
	a := runner.start(t)
	c := spoptest.Dial(t, a.spoeAddr)
	c.Hello(false)
	send := func(ip, ua string) {
		c.Notify(spoptest.Msg("headcount-request", netip.MustParseAddr(ip), ua, nil))
	}
	started := func() float64 { return metric(t, a.metrics(t), "headcount_sessions_started_total") }

	send("192.0.2.7", "Mozilla/5.0")                 // excluded network
	send("203.0.113.50", "Monitor/2.1 secret-probe") // excluded key
	send("203.0.113.50", "Mozilla/5.0")              // metered: another User-Agent
	send("198.51.100.20", "Mozilla/5.0")             // metered
	if got := started(); got != 2 {
		t.Fatalf("%v sessions started, want 2 (two requests excluded)", got)
	}

	write(ipFile, "198.51.100.0/24\n")
	write(keyFile, "")
	hupAndWait := func(want string) {
		t.Helper()
		if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10e9, want, func() bool { return strings.Count(readFile(t, runner.logs), want) >= 1 })
	}
	hupAndWait("read the exclusion files again")
	send("192.0.2.8", "Mozilla/5.0")                 // no longer excluded
	send("203.0.113.51", "Monitor/2.1 secret-probe") // no longer excluded (another address too)
	send("198.51.100.21", "Mozilla/5.0")             // now excluded
	if got := started(); got != 4 {
		t.Errorf("after SIGHUP: %v sessions started, want 4", got)
	}

	write(ipFile, "198.51.100.0/24\nmonitor.internal\n")
	hupAndWait("kept the exclusion lists in force")
	send("198.51.100.22", "Mozilla/5.0") // still excluded
	if got := started(); got != 4 {
		t.Errorf("after a broken file: %v sessions started, want 4 (the lists in force kept)", got)
	}
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("agent exit status %d", code)
	}
	logs := readFile(t, runner.logs)
	for _, secret := range []string{"secret-probe", "192.0.2", "198.51.100", "203.0.113", "monitor.internal"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q, from the exclusion files or the requests:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, ipFile+" line 2: want an IP address or a CIDR such as 10.0.0.0/8") {
		t.Errorf("the log does not name the broken line:\n%s", logs)
	}
}
