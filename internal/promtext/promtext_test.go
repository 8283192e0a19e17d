package promtext

import "testing"

const text = `# HELP headcount_sessions_completed_total Sessions completed.
# TYPE headcount_sessions_completed_total counter
headcount_sessions_completed_total{class="bot",reason="idle"} 3
headcount_sessions_completed_total{class="human",reason="idle"} 10
headcount_sessions_completed_total{class="human",reason="logout"} 2
headcount_sessions_active 7
headcount_sessions_active_total 99
`

func TestSum(t *testing.T) {
	for _, tc := range []struct {
		selector string
		want     float64
		found    bool
	}{
		{`headcount_sessions_completed_total{reason="idle"}`, 13, true},
		{`headcount_sessions_completed_total{class="human",reason="idle"}`, 10, true},
		{`headcount_sessions_completed_total{class="human"}`, 12, true},
		{`headcount_sessions_completed_total`, 15, true},
		{`headcount_sessions_active`, 7, true},
		{`headcount_sessions_completed_total{reason="max"}`, 0, false},
		{`headcount_sessions`, 0, false},
	} {
		got, found := Sum(text, tc.selector)
		if got != tc.want || found != tc.found {
			t.Errorf("Sum(%s) = %v, %v; want %v, %v", tc.selector, got, found, tc.want, tc.found)
		}
	}
}
