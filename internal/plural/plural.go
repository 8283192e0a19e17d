// Package plural writes counts in English: "1 day", "2 days", "0 days".
package plural

import "strconv"

// Count returns n followed by noun, with an "s" unless n is 1 or -1: Count(1,
// "day") is "1 day", Count(2, "day") is "2 days". A noun of several words
// takes the "s" on its last one ("coverage interval"), which suits every
// noun headcount counts.
func Count[N ~int | ~int64 | ~uint64 | ~uint32 | ~uint](n N, noun string) string {
	s := strconv.FormatInt(int64(n), 10)
	if n == 1 || int64(n) == -1 {
		return s + " " + noun
	}
	return s + " " + noun + "s"
}
