package replay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OffsetHolds keeps the offset of a file that grew by appending (its line at
// the offset is as old as the earlier run's lines, or nothing follows yet),
// and refuses it for a file truncated in place and written anew since (its
// line at the offset is newer than the earlier run's newest, or the offset
// falls inside a line), and for a file with no line there that fits the format.
func TestOffsetHolds(t *testing.T) {
	dir := t.TempDir()
	line := func(ip, at string) string {
		return ip + ` - - [` + at + `] "GET / HTTP/1.1" 200 10 "-" "Mozilla/5.0"` + "\n"
	}
	first := line("10.0.0.1", "01/Mar/2026:10:00:00 +0000") + line("10.0.0.2", "01/Mar/2026:10:01:00 +0000")
	offset := int64(len(line("10.0.0.1", "01/Mar/2026:10:00:00 +0000")))
	newest := time.Date(2026, 3, 1, 10, 6, 0, 0, time.UTC) // the earlier run's newest line, and a bit
	for _, c := range []struct {
		name, content string
		format        Format
		want          bool
	}{
		{"as read", first, FormatAuto, true},
		{"grown", first + line("10.0.0.3", "01/Mar/2026:11:00:00 +0000"), FormatNCSA, true},
		{"nothing after", first[:offset], FormatAuto, true},
		{"truncated and written anew", line("10.0.0.9", "02/Mar/2026:00:00:00 +0000") + line("10.0.0.8", "02/Mar/2026:00:01:00 +0000"), FormatAuto, false},
		{"offset inside a line", strings.Repeat("x", 10) + first, FormatAuto, false},
		{"no line fits", first[:offset] + "not a log line\n", FormatNCSA, false},
		{"other format", first, FormatHAProxy, false},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := OffsetHolds(path, offset, c.format, newest); got != c.want {
			t.Errorf("%s: OffsetHolds = %v, want %v", c.name, got, c.want)
		}
	}
	if !OffsetHolds(filepath.Join(dir, "missing"), 0, FormatAuto, newest) {
		t.Error("offset 0 does not hold")
	}
}
