package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"headcount/entitlement"
	"headcount/report/metricsfile"
	"headcount/store"
)

// metricsDB is a database metered on day a from 09:55:20 to 10:31 (12
// sessions in the 10:00 window, 2 of them bots, none at 10:10, 1 at 10:20),
// not at all on day a+1, imported (40 sessions) on day a+2, and today from
// midnight with coverage stored up to 23:59:59 and 5 sessions in a window of
// tomorrow (a wall clock set ahead): lines must stop at now.
type metricsDB struct {
	path     string
	a, today time.Time
}

func newMetricsDB(t *testing.T, dir string) metricsDB {
	t.Helper()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	a := today.AddDate(0, 0, -3)
	path := filepath.Join(dir, "headcount.db")
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, "date,sessions\n"+a.AddDate(0, 0, 2).Format("2006-01-02")+",40\n")
	if code, _, errOut := runCLI(t, "import", "--create", "--db", path, hist); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tomorrow := today.AddDate(0, 0, 1)
	_, err = db.Flush(store.Flush{
		Days:      []store.DayCount{{Day: a, Sessions: 13, Bots: 2}, {Day: tomorrow, Sessions: 5}},
		Completed: map[string]uint64{"idle": 18}, Started: 18,
		Windows: []store.WindowCount{{Start: a.Add(10 * time.Hour), Sessions: 12, Bots: 2}, {Start: a.Add(10*time.Hour + 20*time.Minute), Sessions: 1},
			{Start: tomorrow.Add(time.Hour), Sessions: 5}},
		Coverage: []store.Interval{{Start: a.Add(9*time.Hour + 55*time.Minute + 20*time.Second), End: a.Add(10*time.Hour + 31*time.Minute)},
			{Start: today, End: today.Add(24*time.Hour - time.Second)}},
		Now: today, Seq: 1})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return metricsDB{path: path, a: a, today: today}
}

func mustKeygen(t *testing.T, dir string) (name string, pub ed25519.PublicKey) {
	t.Helper()
	name = filepath.Join(dir, "site")
	if code, _, errOut := runCLI(t, "keygen", name); code != 0 {
		t.Fatal(errOut)
	}
	data, err := os.ReadFile(name + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if pub, err = entitlement.ParsePublicKey(data); err != nil {
		t.Fatal(err)
	}
	return name, pub
}

// TestMetricsFile_MHS: the file of a range with a metered day, an unmetered
// one, an imported one and the future has lines only for the windows that
// were metered and have ended — 0 for a quiet one, none for the unmetered or
// imported day, none at or after now — in the MHS shape, and verifies.
func TestMetricsFile_MHS(t *testing.T) {
	dir := t.TempDir()
	db := newMetricsDB(t, dir)
	site, pub := mustKeygen(t, dir)
	file := filepath.Join(dir, "usage.metrics")
	from, to := db.a.Format("2006-01-02"), db.today.AddDate(0, 0, 2).Format("2006-01-02")
	before := time.Now()
	code, out, errOut := runCLI(t, "metrics-file", "--db", db.path, "--key", site+".key", "--deployment", "dx-prod", "--output", file, from, to)
	after := time.Now()
	if code != 0 {
		t.Fatalf("metrics-file: %d %s", code, errOut)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if want := "1," + metricsfile.KeyID(pub) + ",headcount,dev,dx-prod,"; !strings.HasPrefix(lines[0], want) {
		t.Errorf("line 1 %q, want it to start %q", lines[0], want)
	}
	stamp := func(t time.Time) string { return t.Format(metricsfile.TimeLayout) }
	var want []string
	for i, n := range []int{0, 12, 0, 1, 0} { // 09:50 to 10:30 on day a
		s := db.a.Add(9*time.Hour + 50*time.Minute + time.Duration(i)*10*time.Minute)
		want = append(want, "user-sessions,"+stamp(s)+","+stamp(s.Add(10*time.Minute))+","+strconv.Itoa(n))
	}
	var got []string
	for _, l := range lines[1 : len(lines)-1] {
		got = append(got, l[:strings.LastIndexByte(l, ',')])
	}
	if len(got) < len(want) || strings.Join(got[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Fatalf("day a's lines:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Today: every window from midnight that ended by now, each with 0.
	today := got[len(want):]
	for i, l := range today {
		s := db.today.Add(time.Duration(i) * 10 * time.Minute)
		if l != "user-sessions,"+stamp(s)+","+stamp(s.Add(10*time.Minute))+",0" {
			t.Fatalf("today's line %d is %q", i, l)
		}
	}
	if ended := int(before.Sub(db.today) / (10 * time.Minute)); len(today) < ended || len(today) > int(after.Sub(db.today)/(10*time.Minute)) {
		t.Errorf("%d lines for today; %d windows had ended when the command started", len(today), ended)
	}
	if wantOut := "wrote " + file + ": " + strconv.Itoa(len(got)) + " metered windows, 13 sessions, signed with key id " + metricsfile.KeyID(pub) + "\n"; out != wantOut {
		t.Errorf("stdout %q\nwant   %q", out, wantOut)
	}
	code, out, errOut = runCLI(t, "verify", "--pubkey", site+".pub", file)
	wantOK := "ok: headcount dev, deployment dx-prod, key id " + metricsfile.KeyID(pub) + ": " + strconv.Itoa(len(got)) + " metered windows from " +
		stamp(db.a.Add(9*time.Hour+50*time.Minute)) + " to " + strings.Split(lines[len(lines)-2], ",")[2] + ", 13 sessions; chain and signature valid\n"
	if code != 0 || out != wantOK {
		t.Errorf("verify: %d %q %q\nwant %q", code, out, errOut, wantOK)
	}
}

// TestMetricsFile_Flags: --key-id, --product, --product-version and
// --feature-id name line 1 and the window lines; --output - writes to
// standard output; a value that would break the line is bad input.
func TestMetricsFile_Flags(t *testing.T) {
	dir := t.TempDir()
	db := newMetricsDB(t, dir)
	site, _ := mustKeygen(t, dir)
	from, to := db.a.Format("2006-01-02"), db.a.AddDate(0, 0, 1).Format("2006-01-02")
	code, out, errOut := runCLI(t, "metrics-file", "--db", db.path, "--key", site+".key", "--deployment", "dx-prod", "--key-id", "site-7",
		"--product", "HCL DX", "--product-version", "9.5", "--feature-id", "dx-sessions", "--output", "-", from, to)
	if code != 0 {
		t.Fatalf("%d %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "1,site-7,HCL DX,9.5,dx-prod,") || !strings.HasPrefix(lines[2], "dx-sessions,"+db.a.Add(10*time.Hour).Format(metricsfile.TimeLayout)+",") ||
		len(lines) != 8 || !strings.HasPrefix(lines[6], "END,") {
		t.Errorf("the file:\n%s", out)
	}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--product", "a,b"}, `headcount: --product "a,b" holds a comma or a line break, which would split the line; choose a value without` + "\n"},
		{[]string{"--feature-id", ""}, "headcount: --feature-id is empty; a metrics file needs a value there\n"},
		{[]string{"--key-id", "k\n2"}, `headcount: --key-id "k\n2" holds a comma or a line break, which would split the line; choose a value without` + "\n"},
		{[]string{"--deployment", "dx,prod"}, `headcount: --deployment "dx,prod" holds a comma or a line break, which would split the line; choose a value without` + "\n"},
	} {
		args := append([]string{"metrics-file", "--db", db.path, "--key", site + ".key", "--deployment", "dx-prod", "--output", filepath.Join(dir, "x.metrics")}, tc.flags...)
		code, out, errOut := runCLI(t, append(args, from, to)...)
		if code != 2 || out != "" || errOut != tc.want {
			t.Errorf("%q: %d %q %q\nwant %q", tc.flags, code, out, errOut, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.metrics")); err == nil {
		t.Error("bad input wrote the file")
	}
}

// TestMetricsFile_RealBinary runs the built binary as an operator and a
// vendor would: the file gets its default name in the working directory;
// verify accepts it, its CRLF copy and a file in the layout the release
// before wrote (testdata/legacy-v1.metrics.csv, written by that release's
// binary), and rejects each changed copy with status 1 and the first line
// that does not check.
func TestMetricsFile_RealBinary(t *testing.T) {
	bin := headcountBin(t)
	dir := t.TempDir()
	db := newMetricsDB(t, dir)
	site, pub := mustKeygen(t, dir)
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	runIn := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = work, processEnv()
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}
	from, to := db.a.Format("2006-01-02"), db.a.AddDate(0, 0, 3).Format("2006-01-02")
	code, out, errOut := runIn("metrics-file", "--db", db.path, "--key", site+".key", "--deployment", "dx-prod", from, to)
	name := db.a.Format("2006-01-02") + "T00-00-00_usage.metrics"
	if want := "wrote " + name + ": 5 metered windows, 13 sessions, signed with key id " + metricsfile.KeyID(pub) + "\n"; code != 0 || out != want {
		t.Fatalf("metrics-file: %d %q %q\nwant %q", code, out, errOut, want)
	}
	data, err := os.ReadFile(filepath.Join(work, name))
	if err != nil {
		t.Fatal(err)
	}
	shape := regexp.MustCompile(`\A1,[0-9a-f]{16},headcount,dev,dx-prod,[0-9a-f]{64}\n` +
		`(user-sessions,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,\d+,[0-9a-f]{64}\n){5}END,[0-9a-f]{128}\n\z`)
	if !shape.Match(data) {
		t.Errorf("the file is not in the MHS shape:\n%s", data)
	}
	ok := "ok: headcount dev, deployment dx-prod, key id " + metricsfile.KeyID(pub) + ": 5 metered windows from " +
		db.a.Add(9*time.Hour+50*time.Minute).Format(metricsfile.TimeLayout) + " to " + db.a.Add(10*time.Hour+40*time.Minute).Format(metricsfile.TimeLayout) +
		", 13 sessions; chain and signature valid\n"
	good := string(data)
	lines := strings.SplitAfter(good, "\n")
	legacy, err := os.ReadFile("testdata/legacy-v1.metrics.csv")
	if err != nil {
		t.Fatal(err)
	}
	legacyPub, err := filepath.Abs("testdata/legacy-v1.pub")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file, pub string
		code            int
		want            string // stdout for 0, stderr after "headcount: FILE: " for 1
	}{
		{"as written", good, site + ".pub", 0, ok},
		{"CRLF", strings.ReplaceAll(good, "\n", "\r\n"), site + ".pub", 0, ok},
		{"sessions edited", strings.Replace(good, ",12,", ",2,", 1), site + ".pub", 1,
			"line 3: the chain value does not follow from line 2's: this line was edited, or a line was removed just before it"},
		{"a line removed, CRLF", strings.ReplaceAll(strings.Join(append(lines[:2:2], lines[3:]...), ""), "\n", "\r\n"), site + ".pub", 1,
			"line 3: the chain value does not follow from line 2's: this line was edited, or a line was removed just before it"},
		{"two lines swapped", strings.Join([]string{lines[0], lines[1], lines[3], lines[2], lines[4], lines[5], lines[6]}, ""), site + ".pub", 1,
			"line 3: the chain value does not follow from line 2's; the line was signed after line 4: lines were moved (reordered)"},
		{"header edited", strings.Replace(good, ",dx-prod,", ",dx-test,", 1), site + ".pub", 1,
			"line 1: the chain value does not match the header: the header was edited"},
		{"another key", good, legacyPub, 1, "line 7: the END signature does not match the last chain value with this public key (key id " +
			keyIDOf(t, legacyPub) + "; the header names " + metricsfile.KeyID(pub) + "): the file was signed with another key, lines before END were removed, or the lines were chained again"},
		{"legacy layout", string(legacy), legacyPub, 0, "ok: 144 windows from 2026-10-01T00:00:00Z to 2026-10-02T00:00:00Z, 0 sessions, signature valid\n"},
		{"legacy layout, CRLF", strings.ReplaceAll(string(legacy), "\n", "\r\n"), legacyPub, 0, "ok: 144 windows from 2026-10-01T00:00:00Z to 2026-10-02T00:00:00Z, 0 sessions, signature valid\n"},
		{"legacy layout edited", strings.Replace(string(legacy), "2026-10-01T00:20:00Z,2026-10-01T00:30:00Z,0,", "2026-10-01T00:20:00Z,2026-10-01T00:30:00Z,9,", 1), legacyPub, 1,
			"the metrics file was changed: line 5 was edited"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(work, "case"+strconv.Itoa(i)+".metrics")
			writeTestFile(t, path, tc.file)
			code, out, errOut := runIn("verify", "--pubkey", tc.pub, path)
			switch {
			case tc.code == 0 && (code != 0 || out != tc.want || errOut != ""):
				t.Errorf("status %d, stdout %q, stderr %q\nwant 0 and %q", code, out, errOut, tc.want)
			case tc.code == 1 && (code != 1 || out != "" || errOut != "headcount: "+path+": "+tc.want+"\n"):
				t.Errorf("status %d, stdout %q, stderr %q\nwant 1 and %q", code, out, errOut, tc.want)
			}
		})
	}
	if code, _, errOut := runIn("verify", "--pubkey", site+".pub"); code != 2 || errOut != "headcount: verify takes the metrics file\n" {
		t.Errorf("verify without a file: %d %q", code, errOut)
	}
}

func keyIDOf(t *testing.T, pubFile string) string {
	t.Helper()
	data, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := entitlement.ParsePublicKey(data)
	if err != nil {
		t.Fatal(err)
	}
	return metricsfile.KeyID(pub)
}

// TestMetricsFile_FromAgent: with the agent holding the database, the file
// is read through its admin endpoint and still leaves out an imported day
// (its whole-day coverage has no windows), as read from the file itself;
// the file of no window verifies.
func TestMetricsFile_FromAgent(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "headcount.db")
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, "date,sessions\n2026-10-01,40\n")
	if code, _, errOut := runCLI(t, "import", "--create", "--db", db, hist); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	site, pub := mustKeygen(t, dir)
	file := filepath.Join(dir, "usage.metrics")
	want := "wrote " + file + ": 0 metered windows, 0 sessions, signed with key id " + metricsfile.KeyID(pub) + "\n"
	args := []string{"metrics-file", "--db", db, "--key", site + ".key", "--deployment", "dx-prod", "--output", file}
	if code, out, errOut := runBinary(t, append(args, "2026-10-01", "2026-10-02")...); code != 0 || out != want {
		t.Fatalf("from the file: %d %q %q\nwant %q", code, out, errOut, want)
	}
	a := startServe(t, processEnv(), "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--environment", "prod")
	records := a.waitMetering(t)
	addr, _ := records[len(records)-1]["admin_addr"].(string)
	if addr == "" {
		t.Fatal("the agent logged no admin address")
	}
	code, out, errOut := runBinary(t, append(args, "--admin-addr", addr, "2026-10-01", "2026-10-02")...)
	if code != 0 || out != want {
		t.Errorf("from the agent: %d %q %q\nwant %q", code, out, errOut, want)
	}
	code, out, errOut = runBinary(t, "verify", "--pubkey", site+".pub", file)
	if want := "ok: headcount dev, deployment dx-prod, key id " + metricsfile.KeyID(pub) + ": no metered window, 0 sessions; chain and signature valid\n"; code != 0 || out != want {
		t.Errorf("verify: %d %q %q\nwant %q", code, out, errOut, want)
	}
	if st := a.stop(t); st != 0 {
		t.Errorf("the agent exited with status %d", st)
	}
}

// TestServe_ReportSignKey: serve --report-sign-key signs each scheduled
// report as the metrics file is signed, and headcount verify checks it and
// names a changed line; the flag without --report-dir, or with a file that
// is not a private key, is bad input.
func TestServe_ReportSignKey(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "headcount.db")
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, "date,sessions\n2026-10-01,40\n")
	if code, _, errOut := runCLI(t, "import", "--create", "--db", db, hist); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	site, pub := mustKeygen(t, dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--report-sign-key", site + ".key"}, "headcount: --report-sign-key signs the scheduled reports: add --report-dir DIR, or leave it out\n"},
		{[]string{"--report-dir", dir, "--report-sign-key", site + ".pub"}, "headcount: --report-sign-key " + site + ".pub: not a PEM private key\n"},
		{[]string{"--report-dir", dir, "--report-sign-key", filepath.Join(dir, "none.key")},
			"headcount: --report-sign-key " + filepath.Join(dir, "none.key") + ": no such file or directory; give the private key that headcount keygen made\n"},
	} {
		code, out, errOut := runCLI(t, append([]string{"serve", "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", ""}, tc.args...)...)
		if code != 2 || out != "" || errOut != tc.want {
			t.Errorf("%q: status %d, stdout %q, stderr %q\nwant 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}

	reports := filepath.Join(dir, "reports")
	if err := os.Mkdir(reports, 0o755); err != nil {
		t.Fatal(err)
	}
	a := startServe(t, processEnv(), "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", "", "--environment", "prod",
		"--report-dir", reports, "--report-sign-key", site+".key")
	file := filepath.Join(reports, "Reports", "headcount", "2026", "10", "01", "headcount_2026-10-01_2026-10-02.csv")
	deadline := time.After(60 * time.Second)
	for written := false; !written; {
		select {
		case line, ok := <-a.lines:
			if !ok {
				t.Fatalf("the agent exited before it wrote the report")
			}
			written = strings.Contains(line, `"message":"wrote a scheduled report"`) && strings.Contains(line, "2026-10-01_2026-10-02")
		case <-deadline:
			t.Fatalf("the agent logged no scheduled report of 2026-10-01 within a minute")
		}
	}
	if st := a.stop(t); st != 0 {
		t.Errorf("the agent exited with status %d", st)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`\Aday,sessions,gaps,environment,covered_hours,peak_live,average_live,[0-9a-f]{64}\n2026-10-01,40,,prod,[^\n]*,[0-9a-f]{64}\nEND,[0-9a-f]{128}\n\z`).Match(data) {
		t.Errorf("the signed report:\n%s", data)
	}
	code, out, errOut := runBinary(t, "verify", "--pubkey", site+".pub", file)
	if want := "ok: a signed report of 2 lines, signed with key id " + metricsfile.KeyID(pub) + "; chain and signature valid\n"; code != 0 || out != want {
		t.Errorf("verify: %d %q %q\nwant %q", code, out, errOut, want)
	}
	edited := filepath.Join(dir, "edited.csv")
	writeTestFile(t, edited, strings.Replace(string(data), "2026-10-01,40,", "2026-10-01,4,", 1))
	code, out, errOut = runBinary(t, "verify", "--pubkey", site+".pub", edited)
	if want := "headcount: " + edited + ": line 2: the chain value does not follow from line 1's: this line was edited, or a line was removed just before it\n"; code != 1 || out != "" || errOut != want {
		t.Errorf("verify of an edited report: %d %q %q\nwant %q", code, out, errOut, want)
	}
}
