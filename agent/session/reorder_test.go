package session

import (
	"testing"
	"time"
)

// TestTable_OutOfOrder: frames of one client handled out of time order (as
// over several SPOP connections) never start a session that in time order
// would have been the same one.
func TestTable_OutOfOrder(t *testing.T) {
	const k = 0xabcdef
	type event struct {
		at      time.Duration // after t0
		op      string        // "req", "logout", "sweep"
		started bool          // req: expected to start a session; logout: expected to end one
	}
	cases := []struct {
		name    string
		events  []event
		want    map[string]uint64
		started uint64
		live    int64
	}{
		{
			name: "a request stamped before a logout already handled joins the ended session",
			events: []event{
				{0, "req", true}, {10 * time.Second, "logout", true}, {5 * time.Second, "req", false},
				{20 * time.Second, "req", true},
			},
			want: map[string]uint64{"2026-03-14 logout": 1}, started: 2, live: 1,
		},
		{
			// Frames read together share one clock reading: the page loaded
			// right after a logout (its redirect) carries the logout's time.
			name: "a request stamped at the logout's time starts the next session",
			events: []event{
				{0, "req", true}, {10 * time.Second, "logout", true}, {10 * time.Second, "req", true},
				{10*time.Second + Tick, "req", false},
			},
			want: map[string]uint64{"2026-03-14 logout": 1}, started: 2, live: 1,
		},
		{
			name: "a request stamped just before a sweep at the idle boundary extends the swept session",
			events: []event{
				{0, "req", true}, {30*time.Minute + Tick, "sweep", false}, {30*time.Minute - Tick, "req", false},
				{45 * time.Minute, "req", false}, // within the idle timeout of the late request: the same session
				{3 * time.Hour, "sweep", false},
			},
			want: map[string]uint64{"2026-03-14 idle": 1}, started: 1,
		},
		{
			name: "a late request after the session's idle end starts a new one",
			events: []event{
				{0, "req", true}, {31 * time.Minute, "sweep", false}, {30*time.Minute + 2*Tick, "req", true},
			},
			want: map[string]uint64{"2026-03-14 idle": 1}, started: 2, live: 1,
		},
		{
			name: "a request later than the reorder window (a minute) after a logout starts a new session",
			events: []event{
				{0, "req", true}, {10 * time.Second, "logout", true}, {10*time.Second + time.Minute, "sweep", false},
				{10 * time.Second, "req", true},
			},
			want: map[string]uint64{"2026-03-14 logout": 1}, started: 2, live: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab := MustNew(t, Config{}, t0)
			for i, ev := range tc.events {
				now := t0.Add(ev.at)
				switch ev.op {
				case "req":
					if got := tab.Observe(k, now); got != ev.started {
						t.Fatalf("event %d: Observe started=%v, want %v", i, got, ev.started)
					}
				case "logout":
					if got := tab.Logout(k, now); got != ev.started {
						t.Fatalf("event %d: Logout ended=%v, want %v", i, got, ev.started)
					}
				case "sweep":
					tab.Sweep(now)
				}
			}
			d := tab.Collect()
			if got := counts(d); !equalCounts(got, tc.want) {
				t.Errorf("completions = %v, want %v", got, tc.want)
			}
			if d.Started != tc.started {
				t.Errorf("started = %d, want %d", d.Started, tc.started)
			}
			if got := tab.Live(); got != tc.live {
				t.Errorf("live = %d, want %d", got, tc.live)
			}
		})
	}
}
