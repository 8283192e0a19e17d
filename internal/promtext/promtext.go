// Package promtext reads samples from the Prometheus text format the agent's
// /metrics serves, for the tests that scrape it.
package promtext

import (
	"strconv"
	"strings"
)

// Sum returns the sum of the samples in text that a selector matches, and
// whether any did. A selector is a metric name, optionally with labels in
// braces as Prometheus prints them (`name{a="x",b="y"}`); it matches every
// sample of that name whose labels include those given, as a PromQL
// selector does, so `headcount_sessions_completed_total{reason="idle"}`
// adds up the idle sessions of every class.
func Sum(text, selector string) (float64, bool) {
	name, want := split(selector)
	var sum float64
	found := false
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		n, labels := split(line[:i])
		if n != name || !includes(labels, want) {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// split separates a series into its name and its labels (`a="x"` each).
func split(series string) (string, []string) {
	name, rest, ok := strings.Cut(series, "{")
	if !ok {
		return series, nil
	}
	rest = strings.TrimSuffix(rest, "}")
	if rest == "" {
		return name, nil
	}
	return name, strings.Split(rest, ",")
}

func includes(labels, want []string) bool {
	for _, w := range want {
		found := false
		for _, l := range labels {
			if l == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
