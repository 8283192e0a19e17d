package agent

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/session"
	"headcount/agent/spop/spoptest"
	"headcount/internal/logbuf"
	"headcount/store"
)

// wantOverflowMessage is the overflow warning, word for word.
const wantOverflowMessage = "the session table is full (--max-live-sessions): requests with a new key are each counted at once " +
	"as a completed one-request session (reason overflow) and not kept, so nothing is lost but their sessions may be " +
	"counted more than once; if these are real clients, raise --max-live-sessions (about 27 bytes a session)"

// overflowLine is an overflow warning as logged.
type overflowLine struct {
	Level      string `json:"level"`
	Message    string `json:"message"`
	Overflowed uint64 `json:"overflowed"`
	MaxLive    int64  `json:"max_live_sessions"`
}

// overflowLines returns the overflow warnings in a JSON log.
func overflowLines(t *testing.T, log string) []overflowLine {
	t.Helper()
	var lines []overflowLine
	for _, s := range strings.Split(strings.TrimSpace(log), "\n") {
		if s == "" {
			continue
		}
		var l overflowLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		if strings.Contains(l.Message, "overflow") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestOverflowWarning_RateLimited: the warning comes at the first check
// after requests overflowed, then at most once a minute on the clock it is
// given, each line with the requests overflowed since the previous one.
func TestOverflowWarning_RateLimited(t *testing.T) {
	base := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	table, err := session.New(session.Config{MaxLive: 1}, base)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	w := &overflowWarning{table: table, log: zerolog.New(logs)}
	next := uint64(1)
	newKeys := func(n int) {
		for range n {
			table.Observe(next*0x9E3779B97F4A7C15, base)
			next++
		}
	}
	type step struct {
		at       time.Duration // after base
		newKeys  int
		wantLine uint64 // overflowed in the line logged at this check; 0: none
	}
	steps := []step{
		{at: 0, newKeys: 1},                        // the one place: no overflow
		{at: time.Second, newKeys: 3, wantLine: 3}, // first overflows: at once
		{at: 2 * time.Second, newKeys: 5},          // within the minute: held back
		{at: 60 * time.Second, newKeys: 1},         // 59s after the line: still held back
		{at: 61 * time.Second, wantLine: 6},        // a minute after the line: all six since
		{at: 5 * time.Minute},                      // nothing new: no line
		{at: 6 * time.Minute, newKeys: 2, wantLine: 2},
		{at: 6*time.Minute + 59*time.Second, newKeys: 1},
		{at: 7 * time.Minute, wantLine: 1},
	}
	seen := 0
	for _, s := range steps {
		newKeys(s.newKeys)
		w.check(base.Add(s.at))
		lines := overflowLines(t, logs.String())
		switch {
		case s.wantLine == 0 && len(lines) != seen:
			t.Fatalf("at %v: a warning within a minute of the previous one, or with nothing new: %+v", s.at, lines[len(lines)-1])
		case s.wantLine != 0 && len(lines) != seen+1:
			t.Fatalf("at %v: %d new warning lines, want 1", s.at, len(lines)-seen)
		case s.wantLine != 0:
			if l := lines[seen]; l != (overflowLine{Level: "warn", Message: wantOverflowMessage, Overflowed: s.wantLine, MaxLive: 1}) {
				t.Errorf("at %v: warning %+v, want %d overflowed, max 1 and the message %q", s.at, l, s.wantLine, wantOverflowMessage)
			}
			seen++
		}
	}
	if got := table.Stats().Completed[session.ReasonOverflow]; got != 12 {
		t.Errorf("%d overflow sessions, want 12", got)
	}
}

// TestAgent_MaxLiveSessions: through SPOP, with --max-live-sessions 3, the
// first three clients are sessions and keep their sessions, and every
// request of any other client is a completed one-request session (reason
// overflow), counted in the metrics at once, warned about after the next
// sweep, and stored with its reason by the next flush.
func TestAgent_MaxLiveSessions(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var elapsed atomic.Int64
	base := time.Now()
	clock := func() (time.Time, time.Time) {
		now := base.Add(time.Duration(elapsed.Load()))
		return now, now
	}
	cfg := Config{IdleTimeout: time.Hour, MaxSession: 4 * time.Hour, FlushInterval: time.Second, Production: true, Clock: clock, MaxLiveSessions: 3}
	d := drive(t, &cfg)
	a := runAgent(t, db, cfg)
	c := spoptest.Dial(t, a.spoe)
	c.Hello(false)
	for round := 0; round < 2; round++ {
		for i := 0; i < 10; i++ {
			c.Notify(requestMsg(ip4, fmt.Sprintf("client-%d", i), nil))
		}
	}
	if got := a.metric(t, `headcount_sessions_completed_total{reason="overflow"}`); got != 14 {
		t.Errorf("overflow sessions in /metrics: %v, want 14 (7 clients, 2 requests each)", got)
	}
	for series, want := range map[string]float64{"headcount_sessions_active": 3, "headcount_sessions_held": 3, "headcount_sessions_max_live": 3, "headcount_sessions_started_total": 17} {
		if got := a.metric(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	d.sweep()
	if lines := overflowLines(t, a.logs.String()); len(lines) != 1 || lines[0] != (overflowLine{Level: "warn", Message: wantOverflowMessage, Overflowed: 14, MaxLive: 3}) {
		t.Errorf("overflow warnings after the sweep: %+v, want one of 14", lines)
	}
	if err := d.flush(); err != nil {
		t.Fatal(err)
	}
	cnt, err := db.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cnt.Started != 17 || cnt.Completed != 14 || cnt.CompletedByReason["overflow"] != 14 {
		t.Errorf("stored started %d, completed %d, by reason %v; want 17, 14, 14 overflow", cnt.Started, cnt.Completed, cnt.CompletedByReason)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if cnt, _ = db.Counters(); cnt.Started != 17 || cnt.Completed != 17 || cnt.CompletedByReason["shutdown"] != 3 {
		t.Errorf("after shutdown: started %d, completed %d, by reason %v; want 17, 17, 3 shutdown", cnt.Started, cnt.Completed, cnt.CompletedByReason)
	}
}
