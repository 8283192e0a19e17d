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
	f.Fuzz(func(t *testing.T, content string) {
		const path = "history.csv"
		rows, err := ParseHistory(strings.NewReader(content), path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path) || !strings.HasSuffix(err.Error(), "nothing imported") {
				t.Fatalf("error %q does not name the file or say nothing was imported", err)
			}
			return
		}
		seen := map[time.Time]bool{}
		for _, r := range rows {
			if r.Day.Year() < 1970 || r.Day.Hour() != 0 || seen[r.Day] {
				t.Fatalf("accepted a bad or repeated day %v", r.Day)
			}
			seen[r.Day] = true
		}
	})
}
