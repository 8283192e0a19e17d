package store

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseHistory feeds arbitrary import files to the parser: it returns
// rows or an error naming a line, never panics, and every row it returns is
// a valid day with a count.
func FuzzParseHistory(f *testing.F) {
	f.Add("date,sessions\n2023-01-01,5\n2023-01-02,0\n")
	f.Add("date,sessions\r\n2023-01-01,5\r\n")
	f.Add("\uFEFFdate,sessions\n2024-02-29,18446744073709551615\n")
	f.Add("date,sessions\n2023-02-29,5\n")
	f.Add("date,sessions\n2023-01-01,-1\n")
	f.Add("date,sessions\n2023-01-01,5,6\n")
	f.Add("date,sessions\n2023-01-01,5\n2023-01-01,6\n")
	f.Add("")
	f.Add("date,sessions\n2026-12-01,5\n")
	f.Add("date,sessions\n2062-11-30,5\n")
	f.Fuzz(func(t *testing.T, content string) {
		const path = "history.csv"
		rows, err := ParseHistory(strings.NewReader(content), path, fuzzNow)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path) || !strings.HasSuffix(err.Error(), "nothing imported") {
				t.Fatalf("error %q does not name the file or say nothing was imported", err)
			}
			return
		}
		seen := map[time.Time]bool{}
		for _, r := range rows {
			if r.Day.Year() < 1970 || r.Day.Hour() != 0 || seen[r.Day] || r.Day.After(fuzzNow) {
				t.Fatalf("accepted a bad or repeated day %v", r.Day)
			}
			seen[r.Day] = true
		}
	})
}

// fuzzNow is the wall clock FuzzParseHistory parses with.
var fuzzNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// TestParseHistory_FutureDays: today (UTC) is accepted, any later day is
// refused naming its line, whatever the time of day and zone of now.
func TestParseHistory_FutureDays(t *testing.T) {
	plus3 := time.FixedZone("UTC+3", 3*3600)
	tests := []struct {
		name    string
		now     time.Time
		content string
		want    string // the error; "" for none
	}{
		{"today at midnight", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
			"date,sessions\n2026-11-29,1\n2026-11-30,2\n", ""},
		{"today just before midnight", time.Date(2026, 11, 30, 23, 59, 59, 999999999, time.UTC),
			"date,sessions\n2026-11-30,2\n", ""},
		{"tomorrow", time.Date(2026, 11, 30, 23, 59, 59, 999999999, time.UTC),
			"date,sessions\n2026-11-30,2\n2026-12-01,3\n",
			"h.csv:3: 2026-12-01 is in the future (today is 2026-11-30 UTC); nothing imported"},
		{"a typo of the year", time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC),
			"date,sessions\n2062-11-30,7\n2026-11-29,1\n",
			"h.csv:2: 2062-11-30 is in the future (today is 2026-11-30 UTC); nothing imported"},
		{"tomorrow already begun in another zone", time.Date(2026, 12, 1, 1, 0, 0, 0, plus3),
			"date,sessions\n2026-12-01,3\n",
			"h.csv:2: 2026-12-01 is in the future (today is 2026-11-30 UTC); nothing imported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := ParseHistory(strings.NewReader(tc.content), "h.csv", tc.now)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ParseHistory: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("ParseHistory: %v (rows %v), want %q", err, rows, tc.want)
			}
		})
	}
}
