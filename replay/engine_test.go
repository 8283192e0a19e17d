package replay

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"headcount/agent/keying"
	"headcount/internal/botclass"
	"headcount/replay/replaytest"
)

// replayFiles runs the files through Run as the command does.
func replayFiles(t *testing.T, format Format, paths ...string) Result {
	t.Helper()
	var inputs []Input
	for _, p := range paths {
		rc, err := Open(p, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		inputs = append(inputs, Input{Name: p, R: rc})
	}
	bots := botclass.New(botclass.Config{MatchesPerSecond: 1 << 30})
	res, err := Run(Config{Format: format, Keyer: keying.New(keying.Config{Bots: bots}), LogoutPath: regexp.MustCompile(`/logout$`)}, inputs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// dayCSV renders a result's days as replaytest.ExpectedCSV does.
func dayCSV(res Result) string {
	var b strings.Builder
	b.WriteString("day,sessions,bot_sessions\n")
	for _, d := range res.Flush.Days {
		b.WriteString(d.Day.UTC().Format("2006-01-02") + "," + strconv.FormatUint(d.Sessions, 10) + "," + strconv.FormatUint(d.Bots, 10) + "\n")
	}
	return b.String()
}

// Two nodes' logs of a generated population, in every format, plain with
// the format named and gzipped with it detected, count exactly the sessions
// the rules give per UTC day, and skip exactly the malformed lines.
func TestRun_GeneratedPopulation(t *testing.T) {
	pop := replaytest.Generate(1, 300, time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC), 3)
	want := pop.ExpectedCSV()
	t.Logf("expected:\n%s", want)
	for _, format := range []Format{FormatDXUST, FormatNCSA, FormatHAProxy} {
		for _, gz := range []bool{false, true} {
			name := format.String()
			if gz {
				name += ".gz"
			}
			t.Run(name, func(t *testing.T) {
				paths, err := pop.Write(t.TempDir(), format.String(), gz, 2)
				if err != nil {
					t.Fatal(err)
				}
				f := format // named for the plain files, detected for the gzipped ones
				if gz {
					f = FormatAuto
				}
				res := replayFiles(t, f, paths...)
				if got := dayCSV(res); got != want {
					t.Errorf("format %v: days\n%s\nwant\n%s", f, got, want)
				}
				if res.Skipped != uint64(pop.Malformed) || res.Late != 0 {
					t.Errorf("format %v: skipped %d late %d; want %d skipped, none late", f, res.Skipped, res.Late, pop.Malformed)
				}
				if res.Formats[0] != format || res.Formats[1] != format {
					t.Errorf("read as %v, want %v", res.Formats, format)
				}
			})
		}
	}
}

// The live agent receives at most keying.FieldLimit bytes of the
// User-Agent and of X-Forwarded-For (the shipped configuration sends
// req.fhdr(…),bytes(0,512)): two clients whose values differ only after
// that are one session there, so they are one in a replay too. A difference
// within the limit keeps them apart.
func TestRun_HeaderValuesCutAsTheAgentReceivesThem(t *testing.T) {
	long := "Mozilla/5.0 " + strings.Repeat("a", keying.FieldLimit)
	xff := strings.Repeat("203.0.113.7, ", keying.FieldLimit/13+1)
	line := func(minute int, ua, xff string) string {
		return "192.0.2.1 - - [01/Mar/2026:10:" + strconv.Itoa(10+minute) + ":00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"" + ua + "\" \"" + xff + "\"\n"
	}
	for _, c := range []struct {
		name  string
		lines string
		want  uint64
	}{
		{"User-Agents differing after the limit", line(0, long+"X", "-") + line(1, long+"Y", "-"), 1},
		{"X-Forwarded-For differing after the limit", line(0, "curl/8", xff+"1") + line(1, "curl/8", xff+"2"), 1},
		{"User-Agents differing within the limit", line(0, "A"+long, "-") + line(1, "B"+long, "-"), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Run(Config{Format: FormatNCSA}, []Input{{Name: "access.log", R: strings.NewReader(c.lines)}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped != 0 || res.Sessions() != c.want {
				t.Errorf("%d sessions (%d lines skipped), want %d", res.Sessions(), res.Skipped, c.want)
			}
		})
	}
}
