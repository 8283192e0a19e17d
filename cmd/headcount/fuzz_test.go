package main

import (
	"testing"
	"time"
)

// FuzzParseDate: a date either parses to a UTC midnight that formats back to
// the same text, or is refused.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2023-01-01", "2024-02-29", "2023-02-29", "2023-1-01", "99999-01-01", "2023-01-01T00:00:00Z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDate("FROM", s)
		if err != nil {
			return
		}
		if d.Format("2006-01-02") != s || d.Location() != time.UTC || d.Hour() != 0 {
			t.Fatalf("%q parsed to %v", s, d)
		}
	})
}

// FuzzParsePrefixes: --allow, --exclude-ip values give masked prefixes or an
// error, never a panic.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "127.0.0.1", "::1/128", "10.0.0.0/8, 192.168.1.0/24", "10.0.0/8", "fe80::1%eth0/64", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePrefixes("--allow", []string{s})
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("%q gave %v", s, p)
			}
		}
	})
}
