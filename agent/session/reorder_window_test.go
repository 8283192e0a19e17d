package session

import (
	"testing"
	"time"
)

// TestTable_OutOfOrderWithinWindow: events of one key handled out of time
// order, each less than a minute (the reorder window) late, give the counts
// the rules give the same events in time order, except in the limit the
// package comment states (a completed session is never counted again),
// whose cases pin what the table counts instead. These are the orders
// TestTable_Differential's schedules leave out (its rules 3 to 5).
func TestTable_OutOfOrderWithinWindow(t *testing.T) {
	const k = 0xabcdef
	type event struct {
		at time.Duration // after t0 (22:00 UTC)
		op string        // "req", "logout", "sweep"
	}
	cases := []struct {
		name    string
		events  []event // in the order the table is given them
		want    map[string]uint64
		total   uint64 // when want is nil: the number of sessions completed, whatever the reason
		started uint64
		live    int64
	}{
		{
			// In time order: request, logout at +10 s, request at +20 s,
			// which starts the next session. The request at +20 s reaches
			// the table 0 s late, the logout 10 s late.
			name:   "a logout handled after a later request ends only the session before it",
			events: []event{{0, "req"}, {20 * time.Second, "req"}, {10 * time.Second, "logout"}},
			want:   map[string]uint64{"2026-03-14 logout": 1}, started: 2, live: 1,
		},
		{
			// In time order: the logout at +10 s finds no session, the
			// request at +20 s starts one. The logout is 10 s late.
			name:   "a logout stamped before the session's first request ends nothing",
			events: []event{{20 * time.Second, "req"}, {10 * time.Second, "logout"}},
			want:   map[string]uint64{}, started: 1, live: 1,
		},
		{
			// In time order the request at 29m50s extends the session and
			// the one at 30m10s is 20 s after it: one session. The request
			// at 29m50s reaches the table 20 s late. The limit: the request
			// at 30m10s has already ended the session (idle, on the day of
			// the request at 0) and started another, which the late request
			// joins: two sessions.
			name:   "a late request that would bridge an idle gap does not undo the session a later request started",
			events: []event{{0, "req"}, {30*time.Minute + 10*time.Second, "req"}, {29*time.Minute + 50*time.Second, "req"}},
			want:   map[string]uint64{"2026-03-14 idle": 1}, started: 2, live: 1,
		},
		{
			// The same across midnight: in time order one session, last
			// request 00:10:10 on the 15th. The limit: the request at
			// 00:10:10 ended the session on the day of the request at 23:40.
			name: "a late request that would move a session to the next day does not undo its end by a later request",
			events: []event{
				{time.Hour + 40*time.Minute, "req"}, {2*time.Hour + 10*time.Minute + 10*time.Second, "req"},
				{2*time.Hour + 9*time.Minute + 55*time.Second, "req"},
			},
			want: map[string]uint64{"2026-03-14 idle": 1}, started: 2, live: 1,
		},
		{
			// In time order one session, last request 00:10 on the 15th.
			// The limit: the sweep at 22:30 completed it on the 14th; the
			// late request at 22:29:50 and those after it join the completed
			// session, which keeps its day.
			name: "a session a late request kept alive after the sweep completed it keeps its day",
			events: []event{
				{0, "req"}, {30*time.Minute + 2*Tick, "sweep"}, {29*time.Minute + 50*time.Second, "req"},
				{55 * time.Minute, "req"}, {80 * time.Minute, "req"}, {105 * time.Minute, "req"}, {130 * time.Minute, "req"},
				{5 * time.Hour, "sweep"},
			},
			want: map[string]uint64{"2026-03-14 idle": 1}, started: 1,
		},
		{
			// In time order: requests at 0 and 29m50s, the logout at 35m
			// ends the session, the request at 36m starts the next. The
			// sweep at the idle end of the request at 0 comes before the
			// request at 29m50s, which is 10 s late. How the first session
			// is counted (idle at the sweep, or logout) is left open; that
			// the request after the logout starts a session is not.
			name: "a logout ends a session that a late request revived after a sweep ended it",
			events: []event{
				{0, "req"}, {30*time.Minute + 2*Tick, "sweep"}, {29*time.Minute + 50*time.Second, "req"},
				{35 * time.Minute, "logout"}, {36 * time.Minute, "req"},
			},
			total: 1, started: 2, live: 1,
		},
		{
			// As above, with a request at 35m30s, handled before the logout
			// at 35m (30 s late): in time order that request starts the
			// next session.
			name: "a late logout splits a session that a late request revived after a sweep ended it",
			events: []event{
				{0, "req"}, {30*time.Minute + 2*Tick, "sweep"}, {29*time.Minute + 50*time.Second, "req"},
				{35*time.Minute + 30*time.Second, "req"}, {35 * time.Minute, "logout"}, {36 * time.Minute, "req"},
			},
			total: 1, started: 2, live: 1,
		},
		{
			// The session's last request is at 00:09:55 on the 15th; the
			// sweep at 00:10:05 has seen only the request at 23:40 on the
			// 14th. The late request is 10 s late.
			name: "a late request after the sweep that ended its session moves the session to its day",
			events: []event{
				{time.Hour + 40*time.Minute, "req"}, {2*time.Hour + 10*time.Minute + 5*time.Second, "sweep"},
				{2*time.Hour + 9*time.Minute + 55*time.Second, "req"}, {5 * time.Hour, "sweep"},
			},
			want: map[string]uint64{"2026-03-15 idle": 1}, started: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab := MustNew(t, Config{}, t0)
			for _, ev := range tc.events {
				now := t0.Add(ev.at)
				switch ev.op {
				case "req":
					tab.Observe(k, now)
				case "logout":
					tab.Logout(k, now)
				case "sweep":
					tab.Sweep(now)
				}
			}
			d := tab.Collect()
			got := counts(d)
			if tc.want != nil && !equalCounts(got, tc.want) {
				t.Errorf("completions = %v, want %v", got, tc.want)
			}
			if tc.want == nil {
				var n uint64
				for _, c := range got {
					n += c
				}
				if n != tc.total {
					t.Errorf("completions = %v, want %d in all", got, tc.total)
				}
			}
			if d.Started != tc.started {
				t.Errorf("started = %d, want %d", d.Started, tc.started)
			}
			if l := tab.Live(); l != tc.live {
				t.Errorf("live = %d, want %d", l, tc.live)
			}
		})
	}
}

// TestTable_SweepKeepsDayOpen: the sweeper completes a session whose idle
// end falls on the UTC day after its last request only once that end is the
// reorder window (a minute) in the past, so that a late request can still
// move it to its day; other sessions it completes at their end.
func TestTable_SweepKeepsDayOpen(t *testing.T) {
	const late, early = 0xabcdef, 0x123456
	tab := MustNew(t, Config{}, t0)
	tab.Observe(early, t0)                              // idle end 22:30, on its day
	tab.Observe(late, t0.Add(time.Hour+40*time.Minute)) // 23:40 on the 14th, idle end 00:10 on the 15th
	if n := tab.Sweep(t0.Add(30*time.Minute + 2*Tick)); n != 1 {
		t.Fatalf("the sweep at 22:30 completed %d sessions, want 1", n)
	}
	end := t0.Add(2*time.Hour + 10*time.Minute + Tick) // the idle end: 30 min and a tick after the last request
	for _, at := range []time.Time{end.Add(Tick), end.Add(time.Minute - Tick)} {
		if n := tab.Sweep(at); n != 0 {
			t.Fatalf("the sweep at %s completed %d sessions, want 0 (the end is less than a minute past)", at.Format(time.TimeOnly), n)
		}
		if l := tab.Live(); l != 1 {
			t.Fatalf("live at %s = %d, want 1", at.Format(time.TimeOnly), l)
		}
	}
	if n := tab.Sweep(end.Add(time.Minute + Tick)); n != 1 {
		t.Fatalf("the sweep a minute past the end completed %d sessions, want 1", n)
	}
	want := map[string]uint64{"2026-03-14 idle": 2}
	if got := counts(tab.Collect()); !equalCounts(got, want) {
		t.Errorf("completions = %v, want %v", got, want)
	}
	if l := tab.Live(); l != 0 {
		t.Errorf("live = %d, want 0", l)
	}
}
