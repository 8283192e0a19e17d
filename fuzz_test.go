package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzReadHistory feeds arbitrary import files to the parser: it returns
// rows or an error naming a line, never panics, and every row it returns is
// a valid day with a count.
func FuzzReadHistory(f *testing.F) {
	f.Add("date,sessions\n2023-01-01,5\n2023-01-02,0\n")
	f.Add("date,sessions\r\n2023-01-01,5\r\n")
	f.Add("\uFEFFdate,sessions\n2024-02-29,18446744073709551615\n")
	f.Add("date,sessions\n2023-02-29,5\n")
	f.Add("date,sessions\n2023-01-01,-1\n")
	f.Add("date,sessions\n2023-01-01,5,6\n")
	f.Add("date,sessions\n2023-01-01,5\n2023-01-01,6\n")
	f.Add("")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(dir, "history.csv")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		rows, err := readHistory(path)
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
