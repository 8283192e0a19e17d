// Package replaytest generates access logs for the tests of log replay: a
// random population of clients with known sessions, written as DX_UST, NCSA
// combined or HAProxy httplog lines by two nodes with their own time zones,
// clock skew and buffered writers, with malformed lines among them. The
// expected sessions per UTC day are computed here from the session rules
// alone, independently of agent/session.
package replaytest

import (
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Rules of the expected counts: the agent's defaults.
const (
	Idle = 30 * time.Minute
	Max  = 4 * time.Hour
)

// margin keeps every gap and session length this far from the idle timeout
// and the maximum, so that the table's 10 ms ticks never decide.
const margin = 2 * time.Second

// Expected is a day's expected count.
type Expected struct {
	Sessions, Bots uint64
}

// request is one request of a client, at the time its node logs it.
type request struct {
	client int
	t      time.Time // as logged (the node's clock)
	node   int
	path   string
}

type client struct {
	ip, ua, xff string // xff "" when the client sends none
	bot         bool
}

// Population is a generated traffic with its expected counts.
type Population struct {
	clients  []client
	requests []request // by logged time
	// Expected holds the expected sessions per UTC day, "YYYY-MM-DD".
	Expected map[string]Expected
	// Malformed is the number of malformed lines Write puts in the files.
	Malformed int
	// First and Last are the times of the first and last request.
	First, Last time.Time
}

var humanUAs = []string{
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
}

var botUAs = []string{
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
}

// Skew is each node's clock error, added to the times it logs.
var Skew = [2]time.Duration{0, 2500 * time.Millisecond}

// Generate returns a population of n clients whose traffic starts at start
// and lasts about days days, from the seed.
func Generate(seed uint64, n int, start time.Time, days int) *Population {
	return GenerateQuiet(seed, n, start, days, nil)
}

// Span is a stretch of time, from Start to End.
type Span struct{ Start, End time.Time }

// GenerateQuiet is Generate with no request in the quiet spans: a test of
// incremental replay leaves so no client active where a resumed run starts
// reading.
func GenerateQuiet(seed uint64, n int, start time.Time, days int, quiet []Span) *Population {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := &Population{Expected: make(map[string]Expected)}
	span := time.Duration(days) * 24 * time.Hour
	for i := 0; i < n; i++ {
		c := client{ip: fmt.Sprintf("198.51.%d.%d", 100+i/250, 1+i%250)}
		if i%7 == 3 {
			c.ip = fmt.Sprintf("2001:db8::%x", 0x100+i)
		}
		if i%9 == 4 {
			c.bot = true
			c.ua = botUAs[i%len(botUAs)]
		} else {
			c.ua = humanUAs[i%len(humanUAs)]
		}
		if i%3 == 0 {
			c.xff = fmt.Sprintf("203.0.%d.%d", 113+i/250%2, 1+i%250)
		}
		p.clients = append(p.clients, c)
		for {
			reqs, ok := timeline(rng, i, start.Add(time.Duration(rng.Int64N(int64(span/2)))), start.Add(span))
			if ok && !within(reqs, quiet) {
				p.requests = append(p.requests, reqs...)
				break
			}
		}
	}
	sort.SliceStable(p.requests, func(a, b int) bool { return p.requests[a].t.Before(p.requests[b].t) })
	p.First, p.Last = p.requests[0].t, p.requests[len(p.requests)-1].t
	p.expect()
	return p
}

// timeline draws the requests of one client from `from`: sessions of a few
// requests with pauses just under the idle timeout, pauses just over it,
// four-hour marathons and logouts. It reports false when a pause or a
// session length falls within margin of a limit (the caller draws again).
func timeline(rng *rand.Rand, id int, from, until time.Time) ([]request, bool) {
	var out []request
	t := from
	sessions := 1 + rng.IntN(6)
	for s := 0; s < sessions && t.Before(until); s++ {
		marathon := rng.IntN(8) == 0
		n := 1 + rng.IntN(8)
		if marathon {
			n = 14 + rng.IntN(6) // every ~20 min: past 4 h
		}
		for r := 0; r < n; r++ {
			node := rng.IntN(2)
			out = append(out, request{client: id, t: t.Add(Skew[node]), node: node, path: fmt.Sprintf("/app/page%d", rng.IntN(50))})
			var gap time.Duration
			switch {
			case marathon:
				gap = 19*time.Minute + time.Duration(rng.Int64N(int64(2*time.Minute)))
			case rng.IntN(4) == 0:
				gap = Idle - 5*time.Second - time.Duration(rng.Int64N(int64(20*time.Second))) // just under
			default:
				gap = time.Duration(1+rng.Int64N(int64(10*time.Minute))) + time.Millisecond*time.Duration(rng.IntN(1000))
			}
			t = t.Add(gap)
		}
		switch rng.IntN(4) {
		case 0: // a logout, at the session's last request's node
			node := rng.IntN(2)
			paths := []string{"/logout", "/app/logout", "/logout?next=/"}
			out = append(out, request{client: id, t: t.Add(Skew[node]), node: node, path: paths[rng.IntN(len(paths))]})
			t = t.Add(time.Duration(1 + rng.Int64N(int64(5*time.Minute)))) // a new session after a logout may follow soon
		case 1:
			t = t.Add(Idle + 5*time.Second + time.Duration(rng.Int64N(int64(20*time.Second)))) // just over
		default:
			t = t.Add(Idle + time.Duration(rng.Int64N(int64(10*time.Hour))))
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].t.Before(out[b].t) })
	// Check the margins against the session rules on the logged times.
	var start, last time.Time
	live := false
	for _, r := range out {
		if live {
			if near(r.t.Sub(last), Idle) || near(r.t.Sub(start), Max) {
				return nil, false
			}
			if r.t.Sub(last) >= Idle || r.t.Sub(start) >= Max {
				live = false
			}
		}
		if isLogout(r.path) {
			live = false
			continue
		}
		if !live {
			start, live = r.t, true
		}
		last = r.t
	}
	for i := 1; i < len(out); i++ {
		if out[i].t.Sub(out[i-1].t) < 20*time.Millisecond { // two requests in one tick: order would decide
			return nil, false
		}
	}
	return out, true
}

// within reports whether a request falls in one of the spans.
func within(reqs []request, spans []Span) bool {
	for _, r := range reqs {
		for _, s := range spans {
			if !r.t.Before(s.Start) && r.t.Before(s.End) {
				return true
			}
		}
	}
	return false
}

func near(d, limit time.Duration) bool { return d > limit-margin && d < limit+margin }

func isLogout(path string) bool {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return strings.HasSuffix(path, "/logout")
}

// expect computes the expected sessions per day from the rules: a session
// ends after Idle without a request, Max after its start, or at a logout;
// it counts on the UTC day of its last request (of the logout, for a
// logout).
func (p *Population) expect() {
	type state struct {
		live        bool
		start, last time.Time
	}
	st := make([]state, len(p.clients))
	count := func(c int, day time.Time) {
		k := day.UTC().Format("2006-01-02")
		e := p.Expected[k]
		e.Sessions++
		if p.clients[c].bot {
			e.Bots++
		}
		p.Expected[k] = e
	}
	for _, r := range p.requests {
		s := &st[r.client]
		over := s.live && (r.t.Sub(s.last) >= Idle || r.t.Sub(s.start) >= Max)
		if over {
			count(r.client, s.last)
			s.live = false
		}
		if isLogout(r.path) {
			if s.live {
				count(r.client, r.t)
				s.live = false
			}
			continue
		}
		if !s.live {
			s.live, s.start = true, r.t
		}
		s.last = r.t
	}
	for c, s := range st {
		if s.live {
			count(c, s.last)
		}
	}
}

// Secrets returns every client address, User-Agent and X-Forwarded-For of
// the population: none may reach a database or an output.
func (p *Population) Secrets() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range p.clients {
		for _, v := range []string{c.ip, c.ua, c.xff} {
			if v != "" && !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}

// ExpectedCSV returns the expected counts as `day,sessions,bot_sessions`
// lines with a header, by day.
func (p *Population) ExpectedCSV() string {
	var days []string
	for d := range p.Expected {
		days = append(days, d)
	}
	sort.Strings(days)
	var b strings.Builder
	b.WriteString("day,sessions,bot_sessions\n")
	for _, d := range days {
		fmt.Fprintf(&b, "%s,%d,%d\n", d, p.Expected[d].Sessions, p.Expected[d].Bots)
	}
	return b.String()
}

// Zones are the nodes' time zones, as they write their times.
var Zones = [2]*time.Location{time.FixedZone("", 2*3600), time.FixedZone("", -5*3600)}

// Write writes the population's log, one file per node, in format ("dx-ust",
// "ncsa" or "haproxy"), into dir, gzipped when gz, and returns the paths.
// Each node writes its lines out of order by up to 90 s (buffered writers)
// and one malformed line in every 500.
func (p *Population) Write(dir, format string, gz bool, seed uint64) ([]string, error) {
	var paths []string
	for n, lines := range p.Lines(format, seed) {
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
		name := filepath.Join(dir, fmt.Sprintf("node%d-%s.log", n+1, format))
		data := []byte(b.String())
		if gz {
			name += ".gz"
			f, err := os.Create(name)
			if err != nil {
				return nil, err
			}
			zw := gzip.NewWriter(f)
			if _, err := zw.Write(data); err != nil {
				return nil, err
			}
			if err := zw.Close(); err != nil {
				return nil, err
			}
			if err := f.Close(); err != nil {
				return nil, err
			}
		} else if err := os.WriteFile(name, data, 0o600); err != nil {
			return nil, err
		}
		paths = append(paths, name)
	}
	return paths, nil
}

// Line is a line of a node's log and the time the node wrote it.
type Line struct {
	At   time.Time
	Text string
}

// Lines returns the population's log lines in format ("dx-ust", "ncsa" or
// "haproxy"), per node in the order written: each node writes its lines out
// of order by up to 90 s (buffered writers) and one malformed line in every
// 500 (Malformed counts them).
func (p *Population) Lines(format string, seed uint64) [2][]Line {
	rng := rand.New(rand.NewPCG(seed, 7))
	var nodes [2][]Line
	malformed := 0
	for _, r := range p.requests {
		nodes[r.node] = append(nodes[r.node], Line{r.t.Add(time.Duration(rng.Int64N(int64(90 * time.Second)))), p.format(format, r, rng)})
		if rng.IntN(500) == 0 {
			bad := []string{"garbage", "- - - [not a date] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\"", p.format(format, r, rng)[:20]}
			nodes[r.node] = append(nodes[r.node], Line{r.t, bad[rng.IntN(len(bad))]})
			malformed++
		}
	}
	p.Malformed = malformed
	for _, lines := range nodes {
		sort.SliceStable(lines, func(a, b int) bool { return lines[a].At.Before(lines[b].At) })
	}
	return nodes
}

// format returns the line of one request.
func (p *Population) format(format string, r request, rng *rand.Rand) string {
	c := p.clients[r.client]
	local := r.t.In(Zones[r.node])
	clf := local.Format("02/Jan/2006:15:04:05 -0700")
	xff := c.xff
	if xff == "" {
		xff = "-"
	}
	req := "GET " + r.path + " HTTP/1.1"
	switch format {
	case "dx-ust":
		return fmt.Sprintf(`%s - - [%s] "%s" 200 %d [DX_UST] [%s] %s "%s" "%s" [/DX_UST]`, c.ip, clf, req, 100+rng.IntN(5000), clf, c.ip, c.ua, xff)
	case "ncsa":
		return fmt.Sprintf(`%s - - [%s] "%s" 200 %d "https://portal.example/" "%s" "%s"`, c.ip, clf, req, 100+rng.IntN(5000), c.ua, xff)
	case "haproxy":
		hxff := c.xff // an absent header is an empty capture
		return fmt.Sprintf(`<134>1 %s web%d haproxy 4242 - - %s:%d [%s] fe-https be-app/app%d 0/0/1/%d/%d 200 %d - - ---- 12/12/3/1/0 0/0 {%s|%s} "%s"`,
			local.Format("2006-01-02T15:04:05.000-07:00"), r.node+1, c.ip, 1024+rng.IntN(60000), local.Format("02/Jan/2006:15:04:05.000"),
			r.node+1, rng.IntN(50), rng.IntN(80), 100+rng.IntN(5000), c.ua, hxff, req)
	}
	panic("replaytest: unknown format " + format)
}
