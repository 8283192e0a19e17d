package haproxy

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBots_SplitThroughHAProxy sends browsers and crawlers through a real
// HAProxy, three requests each: the agent classifies each session once, by
// its User-Agent; /metrics splits the completed sessions by class; the
// database keeps the split, which export shows exactly (JSON, the bot
// column), and --bots exclude counts the people only.
func TestBots_SplitThroughHAProxy(t *testing.T) {
	browsers := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
	}
	crawlers := []string{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
		"curl/8.5.0",
		"python-requests/2.31.0",
	}
	// Two people behind each browser (X-Forwarded-For tells them apart:
	// every client's header is trusted by default), one of each crawler.
	type client struct{ ua, xff string }
	var clients []client
	for i, ua := range browsers {
		clients = append(clients, client{ua, fmt.Sprintf("198.51.100.%d", 2*i+1)}, client{ua, fmt.Sprintf("198.51.100.%d", 2*i+2)})
	}
	for _, ua := range crawlers {
		clients = append(clients, client{ua, ""})
	}
	humans, bots := 2*len(browsers), len(crawlers)

	runner := newAgentRunner(t, t.TempDir(), "--idle-timeout", "10s")
	agent := runner.start(t)
	frontend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startHAProxy(t, writeConfig(t, haproxyConfig{FrontendAddr: frontend, AppAddr: startApp(t), AgentAddr: runner.spoeAddr}))
	agent.awaitHAProxy(t)
	for round := 0; round < 3; round++ {
		for i, c := range clients {
			if status := get(t, "http://"+frontend+"/", c.ua, c.xff); status != 200 {
				t.Fatalf("%q: status %d", c.ua, status)
			}
			if round > 0 {
				continue
			}
			// The first request of each client is classified before the
			// next client's is sent. HAProxy answers a request whose SPOE
			// message waits too long without the agent's reply, so on a
			// loaded machine the agent could otherwise take the first
			// requests of the two people behind a browser at the same
			// time: both miss the cache and both match (11 matches in one
			// run, where the test means to count the cache's work).
			waitFor(t, 10*time.Second, "the client's first request to be classified", func() bool {
				m := agent.metrics(t)
				return metric(t, m, `headcount_bot_classifications_total{result="matched"}`)+
					metric(t, m, `headcount_bot_classifications_total{result="cached"}`) == float64(i+1)
			})
		}
	}
	want := float64(3 * len(clients))
	waitFor(t, 10*time.Second, "every request to reach the agent", func() bool {
		return metric(t, agent.metrics(t), "headcount_spoe_messages_total") == want
	})
	m := agent.metrics(t)
	if got := metric(t, m, "headcount_sessions_started_total"); got != float64(humans+bots) {
		t.Errorf("%v sessions started, want %d", got, humans+bots)
	}
	// One match per User-Agent, the cache for the second person behind a
	// browser; requests of live sessions are not classified.
	if got := metric(t, m, `headcount_bot_classifications_total{result="matched"}`); got != float64(len(browsers)+len(crawlers)) {
		t.Errorf("%v crawler-list matches, want %d (one per User-Agent)", got, len(browsers)+len(crawlers))
	}
	if got := metric(t, m, `headcount_bot_classifications_total{result="cached"}`); got != float64(len(browsers)) {
		t.Errorf("%v cached classifications, want %d", got, len(browsers))
	}

	// The sessions end 10 s after their last request (the three rounds of
	// requests fall well within it even on a loaded machine): /metrics splits
	// them.
	waitFor(t, 60*time.Second, "the sessions to end", func() bool {
		return metric(t, agent.metrics(t), "headcount_sessions_completed_total") == float64(humans+bots)
	})
	m = agent.metrics(t)
	if h, b := metric(t, m, `headcount_sessions_completed_total{class="human"}`), metric(t, m, `headcount_sessions_completed_total{class="bot"}`); h != float64(humans) || b != float64(bots) {
		t.Errorf("/metrics: %v human and %v bot sessions completed, want %d and %d", h, b, humans, bots)
	}
	if code := agent.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("agent exit status %d", code)
	}
	today := time.Now().UTC().Format("2006-01-02")
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")
	export := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(agentBin, append(append([]string{"export", "--db", runner.db}, args...), today, tomorrow)...).Output()
		if err != nil {
			t.Fatalf("export %v: %v", args, err)
		}
		return string(out)
	}
	var report struct {
		Total        uint64 `json:"total_sessions"`
		Human        uint64 `json:"total_human_sessions"`
		Bot          uint64 `json:"total_bot_sessions"`
		Unclassified uint64 `json:"total_unclassified_sessions"`
	}
	if err := json.Unmarshal([]byte(export("--format", "json", "--by", "day")), &report); err != nil {
		t.Fatal(err)
	}
	if report.Total != uint64(humans+bots) || report.Human != uint64(humans) || report.Bot != uint64(bots) || report.Unclassified != 0 {
		t.Errorf("JSON totals %+v, want %d sessions: %d human, %d bot", report, humans+bots, humans, bots)
	}
	// day,sessions,gaps,environment,bot_sessions,covered_hours,…
	csv := strings.Split(export("--by", "day", "--bot-column"), "\n")
	if len(csv) < 2 || !strings.HasPrefix(csv[0], "day,sessions,gaps,environment,bot_sessions,") {
		t.Fatalf("CSV with --bot-column: %q", csv)
	}
	if f := strings.Split(csv[1], ","); len(f) < 5 || f[0] != today || f[1] != fmt.Sprint(humans+bots) || f[4] != fmt.Sprint(bots) {
		t.Errorf("CSV with --bot-column: row %q, want %s with %d sessions, %d of them bots", csv[1], today, humans+bots, bots)
	}
	excluded := export("--by", "day", "--bots", "exclude")
	if !strings.Contains(excluded, fmt.Sprintf("\n%s,%d,", today, humans)) {
		t.Errorf("--bots exclude:\n%s\nwant %d sessions on %s", excluded, humans, today)
	}
	// Classification keeps no User-Agent: none is in the database, the log,
	// the metrics or a report.
	written := map[string]string{"database": readFile(t, runner.db), "agent log": readFile(t, runner.logs), "metrics": m,
		"reports": strings.Join(csv, "\n") + excluded + export("--format", "html")}
	for what, text := range written {
		for _, c := range clients {
			for _, v := range []string{c.ua, c.xff} {
				if v != "" && strings.Contains(text, v) {
					t.Errorf("the %s holds %q", what, v)
				}
			}
		}
	}
}
