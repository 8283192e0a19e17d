package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"

	"headcount/agent/keying"
	"headcount/internal/botclass"
	"headcount/replay/replaytest"
)

// benchLog returns the lines of one node's generated log in format.
func benchLog(b *testing.B, format string) []byte {
	b.Helper()
	pop := replaytest.Generate(3, 40000, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), 1)
	paths, err := pop.Write(b.TempDir(), format, false, 4)
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Clean(paths[0]))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// benchReplay measures Run over one file held in memory: lines/s on one
// goroutine and heap allocations per line (the table's growth and the
// result's maps included).
func benchReplay(b *testing.B, format Format) {
	data := benchLog(b, format.String())
	lines := bytes.Count(data, []byte{'\n'})
	bots := botclass.New(botclass.Config{MatchesPerSecond: 1 << 30})
	keyer := keying.New(keying.Config{Bots: bots})
	logout := regexp.MustCompile(`/logout$`)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for b.Loop() {
		if _, err := Run(Config{Format: format, Keyer: keyer, LogoutPath: logout}, []Input{{Name: "bench", R: bytes.NewReader(data)}}); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	total := float64(lines) * float64(b.N)
	b.ReportMetric(total/elapsed.Seconds(), "lines/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/line")
}

func BenchmarkReplay_NCSA(b *testing.B)    { benchReplay(b, FormatNCSA) }
func BenchmarkReplay_DXUST(b *testing.B)   { benchReplay(b, FormatDXUST) }
func BenchmarkReplay_HAProxy(b *testing.B) { benchReplay(b, FormatHAProxy) }

// benchParse measures a parser alone over the lines of a generated file.
func benchParse(b *testing.B, format Format) {
	data := benchLog(b, format.String())
	lines := bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
	parse := parserOf(format)
	var r Record
	b.ReportAllocs()
	n := 0
	start := time.Now()
	for b.Loop() {
		parse(lines[n%len(lines)], &r)
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "lines/s")
}

func BenchmarkParse_NCSA(b *testing.B)    { benchParse(b, FormatNCSA) }
func BenchmarkParse_DXUST(b *testing.B)   { benchParse(b, FormatDXUST) }
func BenchmarkParse_HAProxy(b *testing.B) { benchParse(b, FormatHAProxy) }

// The parsers allocate nothing.
func TestParsers_NoAllocation(t *testing.T) {
	lines := map[Format]string{
		FormatNCSA:    `192.0.2.1 - - [10/Oct/2026:13:55:36 -0700] "GET /a/b?x=1 HTTP/1.1" 200 2326 "-" "Mozilla/5.0" "203.0.113.9"`,
		FormatDXUST:   `x "GET /a HTTP/1.1" [DX_UST] [10/Oct/2026:13:55:36 -0500] 192.0.2.7 "Mozilla/5.0" "-" [/DX_UST]`,
		FormatHAProxy: `<134>1 2026-02-06T12:14:15.001-05:00 web haproxy 1 - - 10.0.0.1:33317 [06/Feb/2026:12:14:14.655] fe be/s1 0/0/0/1/1 200 1 - - ---- 1/1/0/0/0 0/0 {UA|x} "GET /logout HTTP/1.1"`,
	}
	for f, line := range lines {
		b := []byte(line)
		var r Record
		if n := testing.AllocsPerRun(100, func() {
			if !parserOf(f)(b, &r) {
				t.Fatalf("%v: line does not parse", f)
			}
		}); n != 0 {
			t.Errorf("%v: %v allocations per line, want 0", f, n)
		}
	}
}
