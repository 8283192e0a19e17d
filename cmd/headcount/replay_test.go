package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"headcount/replay/replaytest"
	"headcount/report"
	"headcount/store"
)

// Two nodes' logs of a generated population (pauses just under and over the
// idle timeout, four-hour marathons, logouts, UTC midnights, time zones +0200
// and -0500, one node's clock 2.5 s ahead, lines out of order by up to 90 s,
// malformed lines) give, through the real binary, exactly the per-day counts
// the rules give, in every format, detected or named, as --dry-run's CSV and
// in the database; and no address, User-Agent or X-Forwarded-For of the logs
// reaches the database or any output.
func TestReplay_GeneratedLogs(t *testing.T) {
	bin := headcountBinFast(t)
	pop := replaytest.Generate(11, 300, time.Date(2026, 6, 1, 17, 0, 0, 0, time.UTC), 3)
	want := pop.ExpectedCSV()
	secrets := pop.Secrets()
	for i, format := range []string{"dx-ust", "ncsa", "haproxy"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			paths, err := pop.Write(dir, format, i == 1, uint64(20+i))
			if err != nil {
				t.Fatal(err)
			}
			var outputs []string
			code, stdout, stderr := runBinaryAt(t, bin, append([]string{"replay", "--dry-run", "--final", "--format", format}, paths...)...)
			outputs = append(outputs, stdout, stderr)
			if code != 0 || stdout != want {
				t.Fatalf("--dry-run: exit %d, stdout\n%s\nwant\n%s\nstderr: %s", code, stdout, want, stderr)
			}
			if strings.Contains(stderr, "\r") {
				t.Errorf("a progress line on stderr, which is not a terminal: %q", stderr)
			}
			if !strings.Contains(stderr, fmt.Sprintf(": %d lines skipped", pop.Malformed)) && !(pop.Malformed == 1 && strings.Contains(stderr, ": 1 line skipped")) {
				t.Errorf("stderr %q does not say the %d malformed lines were skipped", stderr, pop.Malformed)
			}

			db := filepath.Join(dir, "replay.db")
			code, stdout, stderr = runBinaryAt(t, bin, append([]string{"replay", "--final", "--db", db}, paths...)...)
			outputs = append(outputs, stdout, stderr)
			if code != 0 || !strings.HasSuffix(stdout, "written into "+db+" (created)\n") {
				t.Fatalf("replay: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if got := storedCSV(t, db); got != want {
				t.Errorf("database days\n%s\nwant\n%s", got, want)
			}
			code, stdout, stderr = runBinaryAt(t, bin, "export", "--db", db, "--format", "json", "2026-05-01", "2026-08-01")
			outputs = append(outputs, stdout, stderr)
			if code != 0 {
				t.Fatalf("export: exit %d, %s", code, stderr)
			}
			data, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			outputs = append(outputs, string(data))
			for _, s := range secrets {
				for _, o := range outputs {
					if strings.Contains(o, s) {
						t.Errorf("%q of the logs is in the database or an output", s)
					}
				}
			}
		})
	}
}

// storedCSV returns a database's days as day,sessions,bot_sessions.
func storedCSV(t *testing.T, path string) string {
	t.Helper()
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	days, err := db.Days(time.Unix(0, 0), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("day,sessions,bot_sessions\n")
	for _, d := range days {
		fmt.Fprintf(&b, "%s,%d,%d\n", d.Day.Format(report.DateLayout), d.Sessions, d.Bots)
	}
	return b.String()
}

// replayLog writes lines to a file in dir and returns its path.
func replayLog(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func ncsaLine(ip, at, path string) string {
	return fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" 200 10 "-" "Mozilla/5.0 (X11; Linux x86_64)" "-"`, ip, at, path)
}

// The summary line names what was read, skipped (by file and line number,
// never content), late and excluded, the sessions, the days written and
// whether the database was created; a second replay of the same days is
// refused, naming them, and writes nothing; a file that fits no format and
// bad flags are refused with status 2.
func TestReplay_Messages(t *testing.T) {
	bin := headcountBinFast(t)
	dir := t.TempDir()
	log := replayLog(t, dir, "a.log",
		ncsaLine("192.0.2.1", "01/Jul/2026:23:50:00 +0000", "/a"),
		"garbage secret-line",
		ncsaLine("192.0.2.1", "02/Jul/2026:02:10:00 +0200", "/b"),      // 00:10 UTC: the same session, counted on 2 July
		ncsaLine("192.0.2.2", "02/Jul/2026:00:06:00 +0000", "/logout"), // 4 min older than the newest: in order
		ncsaLine("192.0.2.3", "01/Jul/2026:23:40:00 +0000", "/c"),      // 30 min older than the newest: late with --reorder-window 5m
		ncsaLine("10.1.1.1", "02/Jul/2026:00:11:00 +0000", "/c"),
	)
	db := filepath.Join(dir, "h.db")
	code, stdout, stderr := runBinaryAt(t, bin, "replay", "--final", "--db", db, "--exclude-ip", "10.0.0.0/8", log)
	want := "replayed 6 lines of 1 file: 1 line skipped (first: " + log + " line 2), 1 line late, 1 request excluded; 2 sessions; 2 days written into " + db + " (created)\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Fatalf("exit %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}
	if got := storedCSV(t, db); got != "day,sessions,bot_sessions\n2026-07-01,1,0\n2026-07-02,1,0\n" {
		t.Errorf("stored:\n%s", got)
	}
	// The same log again goes on from where the first run settled: nothing new.
	code, stdout, stderr = runBinaryAt(t, bin, "replay", "--db", db, log)
	want = "replayed 6 lines of 1 file: 1 line skipped (first: " + log + " line 2), 1 line late, 0 requests excluded; 0 sessions; 0 days written into " + db + " (existing); " +
		"resumed from 2026-07-02T01:00:00Z; 0 sessions of clients active without a pause since before 2026-07-01T20:25:00Z may be split differently from one run over the whole period; " +
		"settled at 2026-07-02T01:00:00Z: sessions still live then wait for the next run (--final counts them)\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("second replay: exit %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}
	if got := storedCSV(t, db); got != "day,sessions,bot_sessions\n2026-07-01,1,0\n2026-07-02,1,0\n" {
		t.Errorf("stored after the second replay:\n%s", got)
	}
	if strings.Contains(stdout+stderr, "secret-line") {
		t.Error("a skipped line's content reached the output")
	}

	other := replayLog(t, dir, "b.log", ncsaLine("192.0.2.1", "05/Jul/2026:10:00:00 -0500", "/a"))
	code, stdout, stderr = runBinaryAt(t, bin, "replay", "--final", "--db", db, other)
	want = "replayed 1 line of 1 file: 0 lines skipped, 0 lines late, 0 requests excluded; 1 session; 1 day written into " + db + " (existing); " +
		"resumed from 2026-07-02T01:00:00Z; 0 sessions of clients active without a pause since before 2026-07-01T20:25:00Z may be split differently from one run over the whole period\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("replay of another day: exit %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}

	junk := replayLog(t, dir, "junk.log", "one", "two")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dry-run", junk}, "headcount: " + junk + ": no line of the first 2 fits a format (dx-ust, ncsa, haproxy); pass --format if the file is one of them\n"},
		{[]string{"--dry-run"}, "headcount: replay takes the log files to read, e.g. headcount replay --db headcount.db access.log access.log.1.gz (- reads stdin)\n"},
		{[]string{"--dry-run", "--format", "w3c", log}, "headcount: --format \"w3c\": want auto, dx-ust, ncsa or haproxy\n"},
		{[]string{"--dry-run", "--logout-path", "(", log}, "headcount: --logout-path \"(\": error parsing regexp: missing closing ): `(`\n"},
		{[]string{"--dry-run", "--hole", "0s", log}, "headcount: --hole 0s: want a positive duration such as 5m\n"},
		{[]string{"--dry-run", "--idle-timeout", "25h", log}, "headcount: --idle-timeout 25h0m0s: want 1s to 24h0m0s\n"},
		{[]string{"--dry-run", dir}, "headcount: cannot read " + dir + ": is a directory; check the path\n"},
		{[]string{"--dry-run", filepath.Join(dir, "missing.log")}, "headcount: cannot read " + filepath.Join(dir, "missing.log") + ": no such file or directory; check the path\n"},
	} {
		code, stdout, stderr := runBinaryAt(t, bin, append([]string{"replay"}, tc.args...)...)
		if code != 2 || stdout != "" || stderr != tc.want {
			t.Errorf("replay %v: exit %d\nstdout %q\nstderr %q\nwant   %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

// The README's replay example prints what its prose says: the per-day
// counts of the dry run and the summary of the real run.
func TestReadme_ReplayExample(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start := strings.Index(readme, "cat > access.log <<'LOG'\n")
	if start < 0 {
		t.Fatal("README.md has no replay example")
	}
	body := readme[start+len("cat > access.log <<'LOG'\n"):]
	body = body[:strings.Index(body, "\nLOG\n")+1]
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	if err := os.WriteFile(log, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := headcountBinFast(t)
	code, stdout, _ := runBinaryAt(t, bin, "replay", "--dry-run", "--final", log)
	prose := strings.Join(strings.Fields(readme), " ")
	for _, row := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
		if !strings.Contains(prose, "`"+row+"`") {
			t.Errorf("the dry run prints %q, which README.md does not show", row)
		}
	}
	if code != 0 || !strings.Contains(stdout, "2024-03-02,1,0") {
		t.Errorf("dry run: exit %d, %q", code, stdout)
	}
	db := filepath.Join(dir, "replay.db")
	code, stdout, _ = runBinaryAt(t, bin, "replay", "--final", "--db", db, log)
	summary := strings.ReplaceAll(strings.TrimSuffix(stdout, "\n"), db, "./replay.db")
	if code != 0 || !strings.Contains(prose, "`"+summary+"`") {
		t.Errorf("replay prints %q, which README.md does not show", summary)
	}
}

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		read, total int64
		lines       uint64
		elapsed     time.Duration
		want        string
	}{
		{50 << 20, 200 << 20, 1_234_567, 2 * time.Second,
			"replay: 1,234,567 lines, 617,283 lines/s, 50.0 MiB read of 200.0 MiB (25%), 6s left"},
		{3 << 20, -1, 65536, time.Second, "replay: 65,536 lines, 65,536 lines/s, 3.0 MiB read"},
		{0, 10, 0, 0, "replay: 0 lines, 0 lines/s, 0.0 MiB read of 0.0 MiB (0%)"},
	} {
		if got := progressLine(tc.read, tc.total, tc.lines, tc.elapsed); got != tc.want {
			t.Errorf("progressLine(%d, %d, %d, %s) = %q, want %q", tc.read, tc.total, tc.lines, tc.elapsed, got, tc.want)
		}
	}
}

// On a terminal (script(1) gives the command one), replay shows its
// progress every 65,536 lines on stderr and clears it before the summary.
func TestReplay_ProgressOnTerminal(t *testing.T) {
	bin := headcountBinFast(t)
	dir := t.TempDir()
	var lines []string
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 70000; i++ {
		at := start.Add(time.Duration(i) * time.Second).Format("02/Jan/2006:15:04:05 -0700")
		lines = append(lines, ncsaLine(fmt.Sprintf("192.0.2.%d", i%200), at, "/a"))
	}
	log := replayLog(t, dir, "big.log", lines...)
	out, err := exec.Command("script", "-qec", bin+" replay --dry-run "+log+" >/dev/null", "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	text := string(out)
	progress := "\rreplay: 65,536 lines, "
	clear := "\r\x1b[Kreplayed 70000 lines of 1 file: "
	if i, j := strings.Index(text, progress), strings.Index(text, clear); i < 0 || j < i {
		t.Errorf("terminal output %q: want %q, then the line cleared and the summary", text, progress)
	}
}
