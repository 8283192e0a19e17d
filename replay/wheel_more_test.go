package replay

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"headcount/agent/keying"
	"headcount/agent/session"
	"headcount/internal/botclass"
)

// oddLog is one node's access log as it is written: lines in the order the
// node writes them, each with the time it writes it.
type oddLog struct {
	data    []byte
	ends    []int // where each line ends in data
	written []time.Time
}

// oddLogs draws the logs of nodes that TestRun_WheelSameAsEverySlot does not
// make: up to four nodes with clock skew of up to three minutes either way,
// lines written up to twenty minutes late (beyond the reorder window),
// holes of up to two hours, logouts from the first minute on (some for
// clients with no session), clients coming back within seconds and across
// UTC midnights.
func oddLogs(seed uint64, days int) []oddLog {
	rng := rand.New(rand.NewPCG(seed, 0x7e11))
	start := time.Date(2026, 3, 1, 23, 10, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(time.Hour))))
	nodes := make([]oddLog, 1+rng.IntN(4))
	skew := make([]time.Duration, len(nodes))
	for i := range skew {
		skew[i] = time.Duration(rng.Int64N(int64(6*time.Minute))) - 3*time.Minute
	}
	uas := []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	}
	type line struct {
		node    int
		at, out time.Time
		text    string
	}
	var all []line
	clients := 20 + rng.IntN(120)
	end := start.Add(time.Duration(days) * 24 * time.Hour)
	for c := range clients {
		ip := fmt.Sprintf("198.51.100.%d", 1+c%250)
		ua := uas[c%len(uas)]
		t := start.Add(time.Duration(rng.Int64N(int64(end.Sub(start) / 2))))
		if c < 3 {
			t = start.Add(time.Duration(rng.Int64N(int64(2 * time.Minute)))) // from the first minutes
		}
		for n := 20 + rng.IntN(400); n > 0 && t.Before(end); n-- {
			switch rng.IntN(30) {
			case 0:
				t = t.Add(time.Duration(rng.Int64N(int64(2 * time.Hour)))) // a hole, for a quiet client
			case 1, 2:
				t = t.Add(30*time.Minute + time.Duration(rng.Int64N(int64(4*time.Second))) - 2*time.Second)
			default:
				t = t.Add(time.Duration(rng.Int64N(int64([]time.Duration{time.Second, 15 * time.Second, 3 * time.Minute}[rng.IntN(3)]))))
			}
			node := rng.IntN(len(nodes))
			path := "/page"
			if rng.IntN(12) == 0 {
				path = "/logout"
			}
			at := t.Add(skew[node])
			out := at
			if rng.IntN(40) == 0 {
				out = at.Add(time.Duration(rng.Int64N(int64(20 * time.Minute)))) // written late
			}
			all = append(all, line{node, at, out, ncsa(ip, at.Format("02/Jan/2006:15:04:05 -0700"), path, ua, "-")})
		}
	}
	slices.SortStableFunc(all, func(a, b line) int { return a.out.Compare(b.out) })
	for _, l := range all {
		n := &nodes[l.node]
		n.data = append(append(n.data, l.text...), '\n')
		n.ends = append(n.ends, len(n.data))
		n.written = append(n.written, l.out)
	}
	return nodes
}

// until returns the log as written before t.
func (l oddLog) until(t time.Time) []byte {
	n, _ := slices.BinarySearchFunc(l.written, t, time.Time.Compare)
	if n == 0 {
		return nil
	}
	return l.data[:l.ends[n-1]]
}

// oddRuns replays the logs in runs resumed from each other as the logs grow
// past each cut (all but the last settled).
func oddRuns(t *testing.T, cfg Config, logs []oddLog, cuts []time.Time) []Result {
	t.Helper()
	return resumedRuns(t, cfg, len(logs), func(n int, cut time.Time) []byte { return logs[n].until(cut) }, cuts)
}

// Replay gives the same results with its table's due wheel as sweeping
// every slot on logs TestRun_WheelSameAsEverySlot does not cover: one to
// four files with clock skew, lines written far beyond the reorder window,
// holes, logouts from the first minute on, under the default rules, 10 s
// idle, sub-minute rules and a MaxLive small enough that places decide
// overflows; with a short and the default reorder window; in one run and
// in runs resumed from each other (Resume, Settle) as the logs grow.
func TestRun_WheelSameAsEverySlotOddLogs(t *testing.T) {
	rules := []session.Config{
		{Shards: 1},
		{Shards: 1, IdleTimeout: 10 * time.Second},
		{Shards: 1, IdleTimeout: 20 * time.Second, MaxSession: 50 * time.Second},
		{Shards: 1, MaxLive: 6},
		{Shards: 1, IdleTimeout: 10 * time.Second, MaxLive: 3},
	}
	for seed := uint64(1); seed <= 6; seed++ {
		r := rules[seed%uint64(len(rules))]
		window := []time.Duration{0, 30 * time.Second}[seed/uint64(len(rules))%2]
		t.Run(fmt.Sprintf("seed=%d/idle=%s/max=%s/maxlive=%d/window=%s", seed, r.IdleTimeout, r.MaxSession, r.MaxLive, window), func(t *testing.T) {
			logs := oddLogs(seed, 2)
			bots := botclass.New(botclass.Config{MatchesPerSecond: 1 << 30})
			wheel := Config{Format: FormatNCSA, Keyer: keying.New(keying.Config{Bots: bots}), LogoutPath: regexp.MustCompile(`/logout$`),
				Session: r, ReorderWindow: window}
			every := wheel
			every.everySlot = true
			var last time.Time
			for _, l := range logs {
				for _, w := range l.written {
					if w.After(last) {
						last = w
					}
				}
			}
			one := []time.Time{last.Add(time.Second)}
			a, b := oddRuns(t, every, logs, one)[0], oddRuns(t, wheel, logs, one)[0]
			if a.Sessions() == 0 {
				t.Fatal("one run counted no session: the comparison is empty")
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("one run: sweeping every slot gave\n%+v\nthe wheel\n%+v", a, b)
			}
			var cuts []time.Time
			for c := last.Add(-30 * time.Hour).Truncate(time.Hour); c.Before(last); c = c.Add(10 * time.Hour) {
				cuts = append(cuts, c)
			}
			cuts = append(cuts, last.Add(time.Second))
			as, bs := oddRuns(t, every, logs, cuts), oddRuns(t, wheel, logs, cuts)
			for i := range as {
				if !reflect.DeepEqual(as[i], bs[i]) {
					t.Fatalf("run %d of %d: sweeping every slot gave\n%+v\nthe wheel\n%+v", i+1, len(as), as[i], bs[i])
				}
			}
		})
	}
}
