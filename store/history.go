package store

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseHistory reads an import file of rows `date,sessions` (UTC dates
// YYYY-MM-DD), a header line `date,sessions` first, named name in errors.
// Any bad line rejects the whole file with an error that names its line,
// among them a day after today (the UTC day of now, the wall clock): it
// would be marked as metered before it happened, most often from a typo of
// the year. Rows come back sorted by day.
func ParseHistory(r io.Reader, name string, now time.Time) ([]DayCount, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	var rows []DayCount
	seen := map[time.Time]int{}
	sc := bufio.NewScanner(r)
	line := 0
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s; nothing imported", name, line, fmt.Sprintf(format, a...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 {
			if strings.TrimPrefix(text, "\uFEFF") != "date,sessions" {
				return nil, bad("the header must be date,sessions, not %q", text)
			}
			continue
		}
		date, n, ok := strings.Cut(text, ",")
		if !ok || strings.Contains(n, ",") {
			return nil, bad("want two fields date,sessions, got %q", text)
		}
		day, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return nil, bad("%q is not a date: want YYYY-MM-DD", date)
		}
		if day.Year() < 1970 {
			return nil, bad("%s is before 1970", date)
		}
		if day.After(today) {
			return nil, bad("%s is in the future (today is %s UTC)", date, today.Format(time.DateOnly))
		}
		sessions, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return nil, bad("sessions %q is not a whole number of at least 0", n)
		}
		if first, dup := seen[day]; dup {
			return nil, bad("%s is listed twice (first on line %d)", date, first)
		}
		seen[day] = line
		rows = append(rows, DayCount{Day: day, Sessions: sessions})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v; nothing imported", name, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("%s: the file is empty: want a header date,sessions; nothing imported", name)
	}
	slices.SortFunc(rows, func(a, b DayCount) int { return a.Day.Compare(b.Day) })
	return rows, nil
}
