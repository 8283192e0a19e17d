package haproxy

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"headcount/agent/keying"
	"headcount/agent/session"
	"headcount/internal/botclass"
	"headcount/replay"
)

// TestReplay_SameCountsAsLive sends one traffic through a real HAProxy
// metered live by the agent (idle timeout 2 s) and logging with httplog and
// the User-Agent and X-Forwarded-For captured after the shipped
// configuration's capture; replaying HAProxy's own log with the same rules
// counts the same sessions, people and bots, as the agent stored.
func TestReplay_SameCountsAsLive(t *testing.T) {
	const idle = 2 * time.Second
	runner := newAgentRunner(t, t.TempDir(), "--idle-timeout", idle.String())
	agent := runner.start(t)
	frontend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfgPath := writeConfig(t, haproxyConfig{FrontendAddr: frontend, AppAddr: startApp(t), AgentAddr: runner.spoeAddr})
	capture := "    http-request capture var(txn.headcount.error) len 4\n"
	text := mustReplaceOnce(t, cfgPath, readFile(t, cfgPath), capture,
		capture+"    capture request header User-Agent len 512\n    capture request header X-Forwarded-For len 512\n")
	writeFile(t, cfgPath, text)
	proxy := startHAProxy(t, cfgPath)
	agent.awaitHAProxy(t)

	type client struct{ ua, xff string }
	clients := []client{
		{"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "198.51.100.1"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "198.51.100.2"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", ""},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ""},
	}
	// Three bursts of requests; a pause of three idle timeouts between them
	// ends every session; client 0 logs out in the second burst and comes
	// back within it.
	sent := 0
	for burst := 0; burst < 3; burst++ {
		if burst > 0 {
			time.Sleep(3 * idle) // the traffic's shape, not a synchronisation
		}
		for round := 0; round < 3; round++ {
			for i, c := range clients {
				path := "/app"
				if burst == 1 && round == 1 && i == 0 {
					path = "/logout"
				}
				if status := get(t, "http://"+frontend+path, c.ua, c.xff); status != 200 {
					t.Fatalf("status %d", status)
				}
				sent++
			}
		}
	}
	waitFor(t, 10*time.Second, "every request to reach the agent", func() bool {
		return metric(t, agent.metrics(t), "headcount_spoe_messages_total") == float64(sent)
	})
	waitFor(t, 30*time.Second, "the sessions to end", func() bool {
		m := agent.metrics(t)
		return metric(t, m, "headcount_sessions_completed_total") == metric(t, m, "headcount_sessions_started_total")
	})
	m := agent.metrics(t)
	live := map[string]float64{
		"sessions": metric(t, m, "headcount_sessions_completed_total"),
		"bots":     metric(t, m, `headcount_sessions_completed_total{class="bot"}`),
		"logouts":  metric(t, m, `headcount_sessions_completed_total{reason="logout"}`),
	}
	if code := agent.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("agent exit status %d", code)
	}
	proxy.stop(t)

	var lines []string
	for _, l := range strings.Split(proxy.Output(), "\n") {
		if strings.Contains(l, `"GET /`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != sent {
		t.Fatalf("HAProxy logged %d requests, want %d:\n%s", len(lines), sent, proxy.Output())
	}
	keyer := keying.New(keying.Config{Bots: botclass.New(botclass.Config{MatchesPerSecond: 1 << 30})})
	res, err := replay.Run(replay.Config{Format: replay.FormatHAProxy, Keyer: keyer, LogoutPath: regexp.MustCompile(`(?i)/logout$`),
		Session: session.Config{IdleTimeout: idle}}, []replay.Input{{Name: "haproxy", R: strings.NewReader(strings.Join(lines, "\n"))}})
	if err != nil {
		t.Fatal(err)
	}
	var bots uint64
	for _, d := range res.Flush.Days {
		bots += d.Bots
	}
	replayed := map[string]float64{"sessions": float64(res.Sessions()), "bots": float64(bots), "logouts": float64(res.Flush.Completed["logout"])}
	t.Logf("live %v, replayed %v", live, replayed)
	if fmt.Sprint(live) != fmt.Sprint(replayed) || live["sessions"] != 3*float64(len(clients))+1 || live["logouts"] != 1 {
		t.Errorf("live %v, replayed %v; want the same, %d sessions with 1 logout", live, replayed, 3*len(clients)+1)
	}
	if res.Skipped != 0 || res.Excluded != 0 {
		t.Errorf("replay skipped %d lines, excluded %d", res.Skipped, res.Excluded)
	}
}
