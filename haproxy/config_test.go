package haproxy

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// A User-Agent whose commas req.hdr() would split on.
const commaUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"

// headerBound is the length bound of headcount.spoe.conf's bytes(0,512).
const headerBound = 512

// maxLatency bounds every client request in these tests. "timeout processing"
// is 20ms; the margin is for the race detector and parallel tests.
const maxLatency = 500 * time.Millisecond

// fastRequest is well under "timeout processing": a request this fast did not
// wait for the agent.
const fastRequest = 10 * time.Millisecond

func TestShippedConfig_Valid(t *testing.T) {
	t.Parallel()
	for _, heartbeat := range []bool{false, true} {
		cfgPath := writeConfig(t, haproxyConfig{
			FrontendAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			AppAddr:      "127.0.0.1:8081",
			AgentAddr:    "127.0.0.1:12345",
			Heartbeat:    heartbeat,
		})
		// checkConfig fails unless "haproxy -c" exits 0, which is the one
		// verdict every version gives alike: 2.6 prints "Configuration file
		// is valid", 3.x prints nothing.
		out := checkConfig(t, cfgPath)
		// A warning today (e.g. a missing SPOE timeout) is an outage tomorrow.
		for _, bad := range []string{"[WARNING]", "[ALERT]"} {
			if strings.Contains(out, bad) {
				t.Errorf("haproxy -c reports %s for the shipped %s:\n%s", bad, filepath.Base(cfgPath), out)
			}
		}
	}
}

// TestShippedConfig_AgentDown proves that an agent that is not running costs
// client requests nothing.
func TestShippedConfig_AgentDown(t *testing.T) {
	t.Parallel()
	cfg := haproxyConfig{
		FrontendAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		AppAddr:      startApp(t),
		AgentAddr:    fmt.Sprintf("127.0.0.1:%d", freePort(t)), // nothing listens there
	}
	p := startHAProxy(t, writeConfig(t, cfg))

	took := newTraffic(cfg.FrontendAddr).send(t, "agent not running", 100)

	// Marked DOWN by its first health check, the agent is not even tried:
	// typical requests do not wait for "timeout processing" (20ms).
	slices.Sort(took)
	if median := took[len(took)/2]; median >= fastRequest {
		t.Errorf("agent not running: median request took %v, want < %v", median, fastRequest)
	}

	// The health check noticed, and the SPOE errors are logged, not served:
	// an SPOE error line, and the error code captured in the access log.
	if want := "headcount-agents/agent1 is DOWN"; !p.waitForOutput(want, 10*time.Second) {
		t.Errorf("haproxy never reported %q", want)
	}
	for _, want := range []*regexp.Regexp{spoeErrorLine, accessLogWithError} {
		if !want.MatchString(p.Output()) {
			t.Errorf("haproxy output has no line matching %s", want)
		}
	}
}

// Log lines showing that an SPOE error was reported, not served.
var (
	// SPOE's own log line for a failed event (st=0 would be success).
	spoeErrorLine = regexp.MustCompile(`SPOE: \[headcount-agent\] <EVENT:on-frontend-http-request> sid=\d+ st=[1-9]\d* `)
	// An httplog line of a 200 whose {} capture holds txn.headcount.error.
	accessLogWithError = regexp.MustCompile(` web app/app1 \S+ 200 .* \{[1-9]\d*\} "GET `)
	// SPOE's log line for an event that timed out (st=1).
	spoeTimeoutLine = regexp.MustCompile(`SPOE: \[headcount-agent\] <EVENT:on-frontend-http-request> sid=\d+ st=1 `)
)

// TestShippedConfig_AgentStopsAndRestarts stops a working agent, as a crash
// or restart would: requests go on while HAProxy still believes it UP and
// after the health check marked it DOWN; once it is back, metering resumes.
func TestShippedConfig_AgentStopsAndRestarts(t *testing.T) {
	t.Parallel()
	fa := startFakeAgent(t, 0)
	cfg := haproxyConfig{
		FrontendAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		AppAddr:      startApp(t),
		AgentAddr:    fa.addr,
	}
	p := startHAProxy(t, writeConfig(t, cfg))
	base := "http://" + cfg.FrontendAddr
	fa.sendUntilReceived(t, base+"/", "headcount-test/before-stop", "", "headcount-test/before-stop")

	fa.stop()
	stopped := time.Now()
	traffic := newTraffic(cfg.FrontendAddr)
	const down = "headcount-agents/agent1 is DOWN"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), down) {
		if time.Now().After(deadline) {
			t.Fatalf("haproxy never reported %q", down)
		}
		traffic.send(t, "agent stopped, still UP", 5)
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("agent marked DOWN %v after it stopped", time.Since(stopped).Round(time.Millisecond))

	// Once DOWN the agent is not even tried and requests stop waiting for
	// "timeout processing" (20ms), as soon as the SPOE connections opened
	// while it was still believed UP are gone (HAProxy 2.6: within about
	// "timeout hello").
	const (
		wantFast  = 5
		sendLimit = 200
	)
	var sentDown, fastDown int
	for fastDown < wantFast {
		if sentDown >= sendLimit {
			t.Fatalf("agent DOWN: only %d of %d requests answered in < %v", fastDown, sentDown, fastRequest)
		}
		for _, took := range traffic.send(t, "agent stopped, DOWN", 10) {
			sentDown++
			if took < fastRequest {
				fastDown++
			}
		}
	}
	t.Logf("agent DOWN: %d requests sent until %d answered in < %v", sentDown, wantFast, fastRequest)

	fa.start(t) // same address
	restarted := time.Now()
	const up = "headcount-agents/agent1 is UP"
	if !p.waitForOutput(up, 10*time.Second) {
		t.Fatalf("haproxy never reported %q", up)
	}
	t.Logf("agent marked UP %v after it restarted", time.Since(restarted).Round(time.Millisecond))
	fa.sendUntilReceived(t, base+"/", "headcount-test/after-restart", "", "headcount-test/after-restart")
}

// TestShippedConfig_SlowAgent proves that "timeout processing" bounds what a
// slow agent costs a request, and that the messages still reach the agent.
func TestShippedConfig_SlowAgent(t *testing.T) {
	t.Parallel()
	fa := startFakeAgent(t, 2*time.Second) // every ACK far too late
	cfg := haproxyConfig{
		FrontendAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		AppAddr:      startApp(t),
		AgentAddr:    fa.addr,
	}
	p := startHAProxy(t, writeConfig(t, cfg))

	fa.sendUntilReceived(t, "http://"+cfg.FrontendAddr+"/", "headcount-test/slow", "", "headcount-test/slow")
	newTraffic(cfg.FrontendAddr).send(t, "agent slow", 30)

	// st=1: the SPOE processing timed out, and the request went on.
	if !spoeTimeoutLine.MatchString(p.Output()) {
		t.Errorf("haproxy output has no SPOE timeout line matching %s", spoeTimeoutLine)
	}
}

// TestShippedConfig_ReusesAgentConnections proves that HAProxy keeps its
// connections to the agent for many requests, also when the agents' backend
// is declared before the frontend using it, as configurations that list
// their backends first do. HAProxy 3.1+ converts a "mode tcp" SPOE backend
// to "mode spop" itself, but in that order too late to turn connection reuse
// on: every message then opened a connection of its own (3.2.26). The shipped
// file sets "mode spop" explicitly on 3.1+.
func TestShippedConfig_ReusesAgentConnections(t *testing.T) {
	t.Parallel()
	for _, backendFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("backendFirst=%v", backendFirst), func(t *testing.T) {
			t.Parallel()
			fa := startFakeAgent(t, 0)
			cfg := haproxyConfig{
				FrontendAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
				AppAddr:      startApp(t),
				AgentAddr:    fa.addr,
			}
			cfgPath := writeConfig(t, cfg)
			if backendFirst {
				moveAgentsBackendFirst(t, cfgPath)
			}
			startHAProxy(t, cfgPath)
			fa.sendUntilReceived(t, "http://"+cfg.FrontendAddr+"/", "headcount-test/reuse", "", "headcount-test/reuse")

			const requests = 100
			before := fa.accepted()
			newTraffic(cfg.FrontendAddr).send(t, "connection reuse", requests)
			// A few health checks (every 2s) and a spare connection are
			// fine; a connection per message is not.
			if n := fa.accepted() - before; n > requests/10 {
				t.Errorf("the agent accepted %d connections during %d requests, want at most %d: "+
					"HAProxy does not reuse its agent connections", n, requests, requests/10)
			}
		})
	}
}

// moveAgentsBackendFirst rewrites the haproxy.cfg at cfgPath with its
// "backend headcount-agents" section (the file's last) before "frontend web".
func moveAgentsBackendFirst(t testing.TB, cfgPath string) {
	t.Helper()
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	be := strings.Index(text, "\nbackend headcount-agents\n")
	fe := strings.Index(text, "\nfrontend web\n")
	if be < 0 || fe < 0 || fe > be {
		t.Fatalf("%s: want a frontend web followed by a last section backend headcount-agents", cfgPath)
	}
	text = text[:fe] + text[be:] + "\n" + text[fe:be]
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestShippedConfig_SendsExpectedArgs runs HAProxy against a fake agent and
// checks exactly which message and arguments each request produces.
func TestShippedConfig_SendsExpectedArgs(t *testing.T) {
	t.Parallel()
	fa := startFakeAgent(t, 0)
	cfg := haproxyConfig{
		FrontendAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		AppAddr:      startApp(t),
		AgentAddr:    fa.addr,
	}
	startHAProxy(t, writeConfig(t, cfg))
	base := "http://" + cfg.FrontendAddr
	loopback := net.IPv4(127, 0, 0, 1).To4() // SPOP IPV4 decodes to 4 bytes

	// Wait until HAProxy has a working connection to the agent.
	fa.sendUntilReceived(t, base+"/", "headcount-test/warmup", "", "headcount-test/warmup")

	longUA := "headcount-test/long " + strings.Repeat("L", 2000-len("headcount-test/long "))
	longXFF := "192.0.2.45" + strings.Repeat(", 198.51.100.77", 100)
	tests := []struct {
		name    string
		path    string
		ua, xff string
		id      string // a substring of ua or xff identifying this request's frame
		wantMsg string
		wantUA  any // the header's bytes as a string, or nil for NULL
		wantXFF any
	}{
		{
			name: "comma UA and multi-hop XFF arrive whole",
			path: "/app/page?q=1", ua: commaUA, xff: "203.0.113.7, 198.51.100.2", id: "203.0.113.7",
			wantMsg: "headcount-request", wantUA: commaUA, wantXFF: "203.0.113.7, 198.51.100.2",
		},
		{
			name: "missing User-Agent arrives as NULL",
			path: "/", ua: "", xff: "198.51.100.10", id: "198.51.100.10",
			wantMsg: "headcount-request", wantUA: nil, wantXFF: "198.51.100.10",
		},
		{
			name: "missing X-Forwarded-For arrives as NULL",
			path: "/", ua: "headcount-test/missing-xff", xff: "", id: "headcount-test/missing-xff",
			wantMsg: "headcount-request", wantUA: "headcount-test/missing-xff", wantXFF: nil,
		},
		{
			name: "2000-byte User-Agent arrives truncated",
			path: "/", ua: longUA, xff: "192.0.2.44", id: "headcount-test/long",
			wantMsg: "headcount-request", wantUA: longUA[:headerBound], wantXFF: "192.0.2.44",
		},
		{
			name: "long X-Forwarded-For arrives truncated",
			path: "/", ua: "headcount-test/long-xff", xff: longXFF, id: "headcount-test/long-xff",
			wantMsg: "headcount-request", wantUA: "headcount-test/long-xff", wantXFF: longXFF[:headerBound],
		},
		{
			name: "logout sends only headcount-logout",
			path: "/app/logout", ua: "headcount-test/logout", xff: "192.0.2.99", id: "headcount-test/logout",
			wantMsg: "headcount-logout", wantUA: "headcount-test/logout", wantXFF: "192.0.2.99",
		},
		{
			name: "logout path prefix is an ordinary request",
			path: "/logout/help", ua: "headcount-test/not-logout", xff: "192.0.2.98", id: "headcount-test/not-logout",
			wantMsg: "headcount-request", wantUA: "headcount-test/not-logout", wantXFF: "192.0.2.98",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fa.sendUntilReceived(t, base+tc.path, tc.ua, tc.xff, tc.id)
			want := spoeFrame{{name: tc.wantMsg, args: []spoeArg{
				{"ip", loopback}, {"ua", tc.wantUA}, {"xff", tc.wantXFF},
			}}}
			if got := headersAsText(t, f); !reflect.DeepEqual(got, want) {
				t.Errorf("GET %s:\n got %s\nwant %s", tc.path, f, want)
			}
		})
	}

	// Every frame HAProxy sent (retries included) carries exactly one
	// message, and the logout request never also sent headcount-request.
	for _, f := range fa.allFrames() {
		if len(f) != 1 {
			t.Errorf("frame with %d messages, want 1: %s", len(f), f)
			continue
		}
		if f.contains("headcount-test/logout") != (f[0].name == "headcount-logout") {
			t.Errorf("unexpected message %s", f)
		}
	}
}

// headersAsText returns f with every string or binary argument as a string.
// HAProxy 2.6 sends the header values as SPOP STRING; BINARY carries the
// same bytes and the agent treats both alike, so either is accepted. NULL,
// the IP and every other type are kept as they are.
func headersAsText(t testing.TB, f spoeFrame) spoeFrame {
	t.Helper()
	out := make(spoeFrame, len(f))
	for i, m := range f {
		out[i] = spoeMessage{name: m.name, args: make([]spoeArg, len(m.args))}
		for j, a := range m.args {
			if b, ok := a.value.([]byte); ok {
				t.Logf("%s.%s arrived as SPOP BINARY", m.name, a.name)
				a.value = string(b)
			}
			out[i].args[j] = a
		}
	}
	return out
}

// traffic sends a varied mix of requests to a frontend: several
// User-Agents and X-Forwarded-For values, some missing, some logouts.
type traffic struct {
	base string
	n    int
}

func newTraffic(frontendAddr string) *traffic { return &traffic{base: "http://" + frontendAddr} }

var (
	trafficUAs   = []string{commaUA, "curl/8.5.0", "", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"}
	trafficXFFs  = []string{"203.0.113.7", "203.0.113.7, 198.51.100.2", ""}
	trafficPaths = []string{"/", "/app/page?x=1", "/static/app.js", "/logout", "/app/logout"}
)

// send sends n requests, each of which must answer 200 within maxLatency,
// and returns how long each took.
func (tr *traffic) send(t testing.TB, phase string, n int) []time.Duration {
	t.Helper()
	var slowest time.Duration
	took := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		ua := trafficUAs[tr.n%len(trafficUAs)]
		xff := trafficXFFs[tr.n%len(trafficXFFs)]
		path := trafficPaths[tr.n%len(trafficPaths)]
		tr.n++
		start := time.Now()
		status := get(t, tr.base+path, ua, xff)
		d := time.Since(start)
		if status != http.StatusOK {
			t.Errorf("%s: GET %s (ua %q, xff %q): status %d, want 200", phase, path, ua, xff, status)
		}
		if d > maxLatency {
			t.Errorf("%s: GET %s (ua %q, xff %q) took %v, want < %v", phase, path, ua, xff, d, maxLatency)
		}
		slowest = max(slowest, d)
		took = append(took, d)
	}
	t.Logf("%s: %d requests answered 200, slowest %v", phase, n, slowest)
	return took
}
