package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"headcount/entitlement"
	"headcount/report/export"
	"headcount/store"
)

// runCLI runs the command line in-process and returns its exit status,
// stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"headcount"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestRun_Version(t *testing.T) {
	// A test binary records no version control information, so what the
	// build did not set is "unknown".
	want := "headcount dev\ncommit: unknown\nbuilt: unknown\ngo: " + runtime.Version() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 || out != want || errOut != "" {
			t.Errorf("%v: status %d, stdout %q, stderr %q, want stdout %q", args, code, out, errOut, want)
		}
	}
}

// TestRun_VersionFromBuild checks that the values `make build` sets with
// -ldflags -X are the ones printed.
func TestRun_VersionFromBuild(t *testing.T) {
	defer func(v, c, d string) { version, commit, buildDate = v, c, d }(version, commit, buildDate)
	version, commit, buildDate = "1.2.3", "0123456789abcdef0123456789abcdef01234567", "2026-11-30T04:14:48Z"
	want := "headcount 1.2.3\ncommit: 0123456789abcdef0123456789abcdef01234567\nbuilt: 2026-11-30T04:14:48Z\ngo: " + runtime.Version() + "\n"
	code, out, errOut := runCLI(t, "version")
	if code != 0 || out != want || errOut != "" {
		t.Errorf("status %d, stdout %q, stderr %q, want stdout %q", code, out, errOut, want)
	}
}

// TestRun_BadInput checks that bad input gets one clear line on stderr,
// exit status 2, and that no database file is created.
func TestRun_BadInput(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	if err := os.WriteFile(foreign, []byte("these are not the pages you are looking for\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unknownKey := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknownKey, []byte("idle-timout: 10m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badValue := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badValue, []byte("idle-timeout: 100h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	underscored := config("underscored.yaml", "idle_timeout: 10m\n")
	farKey := config("far.yaml", "frobnicate: 1\n")
	bareNumber := config("number.yaml", "idle-timeout: 5\n")
	noValue := config("novalue.yaml", "idle-timeout:\n")
	badInt := config("int.yaml", "max-connections: lots\n")
	badBool := config("bool.yaml", "production: maybe\n")
	mapForList := config("map.yaml", "allow: {a: b}\n")
	listForValue := config("list.yaml", "db: [a.db, b.db]\n")
	notAMap := config("seq.yaml", "- idle-timeout\n")
	nested := config("nested.yaml", "config: other.yaml\n")
	scalarList := config("scalar.yaml", "allow: not-a-network\n")
	twice := config("twice.yaml", "idle-timeout: 10m\nidle-timeout: 20m\n")
	newDB := filepath.Join(dir, "new.db")
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // the whole stderr
	}{
		{"unknown command", nil, []string{"frobnicate"},
			"headcount: unknown command \"frobnicate\"; see headcount --help\n"},
		{"empty database path", nil, []string{"check", "--db", ""},
			"headcount: --db is empty: give the database FILE, such as --db /var/lib/headcount/headcount.db\n"},
		{"empty database path among several", nil, []string{"export", "--db", newDB, "--db", "", "2026-01-01", "2026-02-01"},
			"headcount: --db is empty: give the database FILE, such as --db /var/lib/headcount/headcount.db\n"},
		{"empty database path in the environment", map[string]string{"HEADCOUNT_DB": ""}, []string{"replay", "--dry-run", "-"},
			"headcount: --db is empty: give the database FILE, such as --db /var/lib/headcount/headcount.db\n"},
		{"empty database path of a subcommand", nil, []string{"environment", "show", "--db", ""},
			"headcount: --db is empty: give the database FILE, such as --db /var/lib/headcount/headcount.db\n"},
		{"unknown flag", nil, []string{"serve", "--db", newDB, "--no-such-flag"},
			"headcount: unknown flag --no-such-flag; see headcount serve --help\n"},
		{"flag with underscores", nil, []string{"serve", "--db", newDB, "--idle_timeout", "10m"},
			"headcount: unknown flag --idle_timeout; did you mean --idle-timeout?\n"},
		{"mistyped flag", nil, []string{"serve", "--db", newDB, "--max-sesion", "1h"},
			"headcount: unknown flag --max-sesion; did you mean --max-session?\n"},
		{"duration without a unit", nil, []string{"serve", "--db", newDB, "--idle-timeout", "5"},
			"headcount: invalid value \"5\" for --idle-timeout: a duration such as 30m or 1h30m\n"},
		{"duration without a unit in the environment", map[string]string{"HEADCOUNT_IDLE_TIMEOUT": "5"}, []string{"serve", "--db", newDB},
			"headcount: invalid value \"5\" for HEADCOUNT_IDLE_TIMEOUT: a duration such as 30m or 1h30m\n"},
		{"malformed number", nil, []string{"serve", "--db", newDB, "--max-connections", "lots"},
			"headcount: invalid value \"lots\" for --max-connections: a whole number such as 512\n"},
		{"malformed boolean", nil, []string{"serve", "--db", newDB, "--production=maybe"},
			"headcount: invalid value \"maybe\" for --production: true or false\n"},
		{"listen address without a port", nil, []string{"serve", "--db", newDB, "--spoe-addr", "nonsense"},
			"headcount: invalid value \"nonsense\" for --spoe-addr: an address HOST:PORT such as 127.0.0.1:12345\n"},
		{"listen address with a port out of range", nil, []string{"serve", "--db", newDB, "--admin-addr", "127.0.0.1:99999"},
			"headcount: invalid value \"127.0.0.1:99999\" for --admin-addr: an address HOST:PORT such as 127.0.0.1:12345\n"},
		{"max session shorter than the idle timeout", nil, []string{"serve", "--db", newDB, "--max-session", "1m", "--idle-timeout", "30m"},
			"headcount: --max-session 1m is shorter than --idle-timeout 30m: every session would end at --max-session and none for being idle; set --max-session to at least 30m\n"},
		{"max session shorter than the idle timeout in heartbeat mode", nil, []string{"serve", "--db", newDB, "--max-session", "20m", "--heartbeat", "60s"},
			"headcount: --max-session 20m is shorter than --idle-timeout 30m: every session would end at --max-session and none for being idle; set --max-session to at least 30m\n"},
		{"idle timeout longer than the default max session", nil, []string{"serve", "--db", newDB, "--idle-timeout", "5h"},
			"headcount: --max-session 4h is shorter than --idle-timeout 5h: every session would end at --max-session and none for being idle; set --max-session to at least 5h\n"},
		{"malformed duration", nil, []string{"serve", "--db", newDB, "--idle-timeout", "ten minutes"},
			"headcount: invalid value \"ten minutes\" for --idle-timeout: a duration such as 30m or 1h30m\n"},
		{"idle timeout out of range", nil, []string{"serve", "--db", newDB, "--idle-timeout", "0s"},
			"headcount: --idle-timeout 0s must be between 1s and 24h0m0s\n"},
		{"flush interval too long for coverage", nil, []string{"serve", "--db", newDB, "--flush-interval", "2m"},
			"headcount: --flush-interval 2m0s must be at least 100ms and less than 1m0s (coverage is sampled at each flush)\n"},
		{"malformed CIDR", nil, []string{"serve", "--db", newDB, "--allow", "10.0.0/8"},
			"headcount: --allow \"10.0.0/8\" is not a CIDR (e.g. 10.0.0.0/8) or an address\n"},
		{"malformed excluded network", nil, []string{"serve", "--db", newDB, "--exclude-ip", "not-a-network"},
			"headcount: --exclude-ip \"not-a-network\" is not a CIDR (e.g. 10.0.0.0/8) or an address\n"},
		{"invalid regular expression", nil, []string{"serve", "--db", newDB, "--exclude-ua", "kube-probe/("},
			"headcount: --exclude-ua \"kube-probe/(\": error parsing regexp: missing closing ): `kube-probe/(`\n"},
		{"unknown log level", nil, []string{"serve", "--db", newDB, "--log-level", "chatty"},
			"headcount: --log-level \"chatty\": want debug, info, warn or error\n"},
		{"unknown log format", nil, []string{"serve", "--db", newDB, "--log-format", "xml"},
			"headcount: --log-format \"xml\": want json or console\n"},
		{"arguments to serve", nil, []string{"serve", "--db", newDB, "extra"},
			"headcount: serve takes no arguments, got \"extra\"\n"},
		{"environment variable read", map[string]string{"HEADCOUNT_MAX_SESSION": "0s"}, []string{"serve", "--db", newDB},
			"headcount: --max-session 0s must be between 1s and 24h0m0s\n"},
		{"config file read", nil, []string{"serve", "--db", newDB, "--config", badValue},
			"headcount: --idle-timeout 100h0m0s must be between 1s and 24h0m0s\n"},
		{"flag wins over config file", nil, []string{"serve", "--db", newDB, "--config", badValue, "--idle-timeout", "0s"},
			"headcount: --idle-timeout 0s must be between 1s and 24h0m0s\n"},
		{"unknown key in config file", nil, []string{"serve", "--db", newDB, "--config", unknownKey},
			"headcount: --config " + unknownKey + ": unknown key \"idle-timout\"; did you mean idle-timeout?\n"},
		{"config key with underscores", nil, []string{"serve", "--db", newDB, "--config", underscored},
			"headcount: --config " + underscored + ": unknown key \"idle_timeout\"; did you mean idle-timeout?\n"},
		{"config key like no flag", nil, []string{"serve", "--db", newDB, "--config", farKey},
			"headcount: --config " + farKey + ": unknown key \"frobnicate\"; the keys are the flag names that headcount serve --help lists\n"},
		{"config duration without a unit", nil, []string{"serve", "--db", newDB, "--config", bareNumber},
			"headcount: --config " + bareNumber + ": invalid value \"5\" for idle-timeout: a duration such as 30m or 1h30m\n"},
		{"config key without a value", nil, []string{"serve", "--db", newDB, "--config", noValue},
			"headcount: --config " + noValue + ": invalid value \"\" for idle-timeout: a duration such as 30m or 1h30m\n"},
		{"config malformed number", nil, []string{"serve", "--db", newDB, "--config", badInt},
			"headcount: --config " + badInt + ": invalid value \"lots\" for max-connections: a whole number such as 512\n"},
		{"config malformed boolean", nil, []string{"serve", "--db", newDB, "--config", badBool},
			"headcount: --config " + badBool + ": invalid value \"maybe\" for production: true or false\n"},
		{"config map for a list", nil, []string{"serve", "--db", newDB, "--config", mapForList},
			"headcount: --config " + mapForList + ": allow: want a list of values such as allow: [A, B], or one value\n"},
		{"config list for one value", nil, []string{"serve", "--db", newDB, "--config", listForValue},
			"headcount: --config " + listForValue + ": db: want one value, not a list or a map\n"},
		{"config not a map", nil, []string{"serve", "--db", newDB, "--config", notAMap},
			"headcount: --config " + notAMap + ": want keys and values, one a line, such as idle-timeout: 30m\n"},
		{"config naming a config", nil, []string{"serve", "--db", newDB, "--config", nested},
			"headcount: --config " + nested + ": a --config file cannot name another; give the flags in this one\n"},
		{"config single value for a list is a list of one", nil, []string{"serve", "--db", newDB, "--config", scalarList},
			"headcount: --allow \"not-a-network\" is not a CIDR (e.g. 10.0.0.0/8) or an address\n"},
		{"config key given twice", nil, []string{"serve", "--db", newDB, "--config", twice},
			"headcount: --config " + twice + ": idle-timeout is given twice; keep one\n"},
		{"missing config file", nil, []string{"serve", "--db", newDB, "--config", filepath.Join(dir, "none.yaml")},
			"headcount: --config " + filepath.Join(dir, "none.yaml") + ": no such file\n"},
		{"foreign database", nil, []string{"serve", "--db", foreign, "--spoe-addr", "127.0.0.1:0", "--admin-addr", ""},
			"headcount: " + foreign + ": not a headcount database: bbolt: invalid database\n"},
		{"empty database file", nil, []string{"serve", "--db", empty, "--spoe-addr", "127.0.0.1:0", "--admin-addr", ""},
			"headcount: " + empty + ": not a headcount database: file is empty\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCLI(t, tc.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if errOut != tc.want {
				t.Errorf("stderr:\n%q\nwant:\n%q", errOut, tc.want)
			}
			if strings.Count(errOut, "\n") != 1 || out != "" {
				t.Errorf("want one line on stderr and nothing on stdout, got stdout %q", out)
			}
			if _, err := os.Stat(newDB); err == nil {
				t.Errorf("bad input created the database file")
			}
		})
	}
}

func TestEnvironment_Default(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		flag string
		want string
	}{
		{"flag wins", map[string]string{"HEADCOUNT_RELEASE": "dx", "HEADCOUNT_NAMESPACE": "prod"}, "UAT-ENV", "UAT-ENV"},
		{"release and namespace", map[string]string{"HEADCOUNT_RELEASE": "dx", "HEADCOUNT_NAMESPACE": "prod"}, "", "dx-prod"},
		{"Kubernetes namespace", map[string]string{"HEADCOUNT_RELEASE": "dx", "POD_NAMESPACE": "uat"}, "", "dx-uat"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"HEADCOUNT_RELEASE", "HEADCOUNT_NAMESPACE", "POD_NAMESPACE"} {
				t.Setenv(k, tc.env[k])
			}
			if got := environment(tc.flag); got != tc.want {
				t.Errorf("environment(%q) = %q, want %q", tc.flag, got, tc.want)
			}
		})
	}
	t.Setenv("HEADCOUNT_RELEASE", "")
	host, _ := os.Hostname()
	if got := environment(""); got != host {
		t.Errorf("without release and namespace: %q, want the host name %q", got, host)
	}
}

// seedDB imports the seed document's daily history into a new database.
func seedDB(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "headcount.db")
	code, out, errOut := runCLI(t, "import", "--create", "--db", db, "--environment", "UAT-ENV", "../../report/testdata/seed/history.csv")
	want := "imported 322 days (2023-01-01 to 2024-03-15), 34739664 sessions, into " + db + "\n"
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("import: status %d, stdout %q, stderr %q; want stdout %q", code, out, errOut, want)
	}
	return db
}

// TestExport_Seed reproduces the seed document's report through import and
// export, byte for byte, with the flags after the dates as the original
// script took them.
func TestExport_Seed(t *testing.T) {
	db := seedDB(t)
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"export", "--db", db, "2023-01-01", "2024-04-02", "--pretty"}, "../../report/testdata/seed/expected.txt"},
		{[]string{"export", "2023-01-01", "2024-04-02", "--db", db, "--format", "pretty"}, "../../report/testdata/seed/expected.txt"},
		{[]string{"export", "--db", db, "2023-01-01", "2024-04-02"}, "../../report/testdata/seed/expected.csv"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		want, err := os.ReadFile(tc.golden)
		if err != nil {
			t.Fatal(err)
		}
		if code != 0 || errOut != "" || out != string(want) {
			t.Errorf("%v: status %d, stderr %q, output:\n%s\nwant %s:\n%s", tc.args, code, errOut, out, tc.golden, want)
		}
	}
	// --environment overrides the stored one.
	_, out, _ := runCLI(t, "export", "--db", db, "--environment", "PROD", "2023-01-01", "2023-02-01")
	if out != "month,sessions,gaps,environment\n2023-01,3685341,,PROD\n" {
		t.Errorf("export --environment PROD: %q", out)
	}
}

// TestExport_FutureDays: a range reaching past today ends at today, by the
// command's wall clock, and says so; the days after today are not gaps.
// A FROM after today is refused.
func TestExport_FutureDays(t *testing.T) {
	db := seedDB(t)
	// The commands read the real clock: should the day change while they
	// run, the checks are made again, on the new day.
	for attempt := 0; ; attempt++ {
		today := time.Now().UTC().Truncate(24 * time.Hour)
		var failures []string
		fail := func(format string, a ...any) { failures = append(failures, fmt.Sprintf(format, a...)) }
		to := time.Date(today.Year()+2, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
		gapDays := int(today.Sub(time.Date(2024, 3, 16, 0, 0, 0, 0, time.UTC)).Hours()/24) + 1
		rule := strings.Repeat("#", 60)
		pretty := rule + "\nGenerating Session Usage Report from the Environment: UAT-ENV\nThis can take a few minutes...\nAll dates are in the format YYYY-MM-DD\n" +
			rule + "\nSession usage for 2024-03: 1739367\n" +
			fmt.Sprintf("Gap between 2024-03-15 and %s: %d day(s)\n", today.AddDate(0, 0, 1).Format("2006-01-02"), gapDays) +
			"Report ends at today, " + today.Format("2006-01-02") + "\n" + rule + "\nTotal session usage: 1739367\n" + rule + "\n"
		code, out, errOut := runCLI(t, "export", "--db", db, "2024-03-01", to, "--pretty")
		if code != 0 || errOut != "" || out != pretty {
			fail("export --pretty: status %d, stderr %q, output:\n%s\nwant:\n%s", code, errOut, out, pretty)
		}

		code, out, errOut = runCLI(t, "export", "--db", db, "2024-03-01", to)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		// This month's row is the last; its gap runs to N, the day after today,
		// or to the month's last day, today, when N is next month's.
		end := today.AddDate(0, 0, 1)
		if end.Month() != today.Month() {
			end = today
		}
		wantLast := today.Format("2006-01") + ",," + today.Format("2006-01") + "-01_" + end.Format("2006-01-02") + ",UAT-ENV"
		if code != 0 || errOut != "" || lines[len(lines)-1] != wantLast {
			fail("export CSV: status %d, stderr %q; the last row %q, want %q", code, errOut, lines[len(lines)-1], wantLast)
		}

		code, out, _ = runCLI(t, "export", "--db", db, "--format", "json", "2024-03-01", to)
		if want := "  \"to\": \"" + to + "\",\n  \"ends_at_today\": \"" + today.Format("2006-01-02") + "\",\n"; code != 0 || !strings.Contains(out, want) {
			fail("export --format json: status %d; no %q in\n%.400s", code, want, out)
		}

		// A range that ends by today is as before: no note.
		if _, out, _ = runCLI(t, "export", "--db", db, "--pretty", "2024-03-01", today.AddDate(0, 0, 1).Format("2006-01-02")); strings.Contains(out, "Report ends at today") {
			fail("a range ending at today says it ends at today:\n%s", out)
		}

		// FROM after today: refused, status 2.
		from := today.AddDate(0, 0, 1).Format("2006-01-02")
		code, out, errOut = runCLI(t, "export", "--db", db, from, to)
		if want := "headcount: FROM " + from + " is after today, " + today.Format("2006-01-02") + ": no day of the range has happened yet\n"; code != 2 || out != "" || errOut != want {
			fail("FROM after today: status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
		}
		if attempt == 0 && !time.Now().UTC().Truncate(24*time.Hour).Equal(today) {
			continue
		}
		for _, f := range failures {
			t.Error(f)
		}
		return
	}
}

// TestConfig_EveryCommand: the commands that read a database take their
// flags from a --config file too, with the command line winning, and refuse
// a key that is none of their flags.
func TestConfig_EveryCommand(t *testing.T) {
	db := seedDB(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "headcount.yaml")
	writeTestFile(t, cfg, "db: "+db+"\nformat: pretty\nenvironment: FROM-FILE\n")
	code, out, errOut := runCLI(t, "export", "--config", cfg, "2023-01-01", "2023-02-01")
	if code != 0 || errOut != "" || !strings.Contains(out, "Environment: FROM-FILE") || !strings.Contains(out, "Session usage for 2023-01: 3685341") {
		t.Errorf("export --config: status %d, stderr %q, output:\n%s", code, errOut, out)
	}
	code, out, _ = runCLI(t, "export", "--config", cfg, "--format", "csv", "2023-01-01", "2023-02-01")
	if code != 0 || out != "month,sessions,gaps,environment\n2023-01,3685341,,FROM-FILE\n" {
		t.Errorf("export --config with --format csv on the command line: status %d, %q", code, out)
	}
	check := filepath.Join(dir, "check.yaml")
	writeTestFile(t, check, "db: "+db+"\n")
	if code, out, errOut := runCLI(t, "check", "--config", check); code != 0 || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("check --config: status %d, stdout %q, stderr %q", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeTestFile(t, bad, "db: "+db+"\nidle-timeout: 5m\n") // a serve flag, not an export flag
	code, out, errOut = runCLI(t, "export", "--config", bad, "2023-01-01", "2023-02-01")
	if want := "headcount: --config " + bad + ": unknown key \"idle-timeout\"; the keys are the flag names that headcount export --help lists\n"; code != 2 || out != "" || errOut != want {
		t.Errorf("export with a serve key in --config: status %d, stdout %q, stderr %q, want %q", code, out, errOut, want)
	}
}

// TestRun_MissingRequiredFlag: a missing required flag is bad input like
// any other: one line on stderr, status 2, no help text on stdout.
func TestRun_MissingRequiredFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"usage", "--db", "x.db"}, "headcount: usage needs --license; see headcount usage --help\n"},
		{[]string{"metrics-file", "--key", "k", "2024-01-01", "2024-01-02"}, "headcount: metrics-file needs --deployment; see headcount metrics-file --help\n"},
		{[]string{"verify", "file.metrics"}, "headcount: verify needs --pubkey; see headcount verify --help\n"},
		{[]string{"license", "extend", "token"}, "headcount: license extend needs --deployment; see headcount license extend --help\n"},
		{[]string{"license", "sign", "doc.json"}, "headcount: license sign needs --key; see headcount license sign --help\n"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != 2 || out != "" || errOut != tc.want {
			t.Errorf("%v: status %d, stdout %q, stderr %q; want 2, nothing, %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestExport_Output(t *testing.T) {
	db := seedDB(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	code, out, errOut := runCLI(t, "export", "--db", db, "--format", "json", "--output", path, "2023-01-01", "2024-04-02")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("status %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, direct, _ := runCLI(t, "export", "--db", db, "--format", "json", "2023-01-01", "2024-04-02")
	written, err := os.ReadFile(path)
	if err != nil || string(written) != direct {
		t.Errorf("--output wrote %d bytes (%v), stdout gives %d", len(written), err, len(direct))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the output directory holds %d entries, want only the report (no temporary file left)", len(entries))
	}
}

func TestExport_BadInput(t *testing.T) {
	db := seedDB(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "report.csv")
	foreign := filepath.Join(dir, "foreign.db")
	if err := os.WriteFile(foreign, []byte("not a database, just some words in a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.db")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no dates", []string{"--db", db}, "headcount: export takes two dates, FROM and TO, e.g. headcount export 2023-01-01 2024-04-02\n"},
		{"one date", []string{"--db", db, "2023-01-01"}, "headcount: export takes two dates, FROM and TO, e.g. headcount export 2023-01-01 2024-04-02\n"},
		{"malformed date", []string{"--db", db, "2023-1-01", "2023-02-01"}, "headcount: FROM \"2023-1-01\" is not a date: want YYYY-MM-DD\n"},
		{"impossible date", []string{"--db", db, "2023-01-01", "2023-02-30"}, "headcount: TO \"2023-02-30\" is not a date: want YYYY-MM-DD\n"},
		{"FROM equals TO", []string{"--db", db, "2023-01-01", "2023-01-01"}, "headcount: FROM 2023-01-01 is not before TO 2023-01-01: the range is FROM ≤ day < TO\n"},
		{"FROM after TO", []string{"--db", db, "2024-01-01", "2023-01-01"}, "headcount: FROM 2024-01-01 is not before TO 2023-01-01: the range is FROM ≤ day < TO\n"},
		{"range too long", []string{"--db", db, "1970-01-01", "9999-01-01"}, "headcount: the range has 2932532 days; a report covers at most 36600\n"},
		{"unknown format", []string{"--db", db, "--format", "xml", "2023-01-01", "2023-02-01"}, "headcount: --format \"xml\": want csv, pretty, json, html or summary\n"},
		{"two forms", []string{"--db", db, "--format", "json", "2023-01-01", "2023-02-01", "--pretty"}, "headcount: --pretty and --format json ask for two forms: give one\n"},
		{"unknown granularity", []string{"--db", db, "--by", "hour", "2023-01-01", "2023-02-01"}, "headcount: --by \"hour\": want month, week, day or year\n"},
		{"missing database", []string{"--db", missing, "2023-01-01", "2023-02-01"}, "headcount: " + missing + ": database file does not exist\n"},
		{"foreign database", []string{"--db", foreign, "2023-01-01", "2023-02-01"}, "headcount: " + foreign + ": not a headcount database: bbolt: invalid database\n"},
		{"output directory missing", []string{"--db", db, "--output", filepath.Join(dir, "no", "r.csv"), "2023-01-01", "2023-02-01"}, "headcount: --output " + filepath.Join(dir, "no", "r.csv") + ": the directory " + filepath.Join(dir, "no") + " does not exist; create it first\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"export"}, tc.args...)
			if !strings.Contains(strings.Join(args, " "), "--output") {
				args = append(args, "--output", out)
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != 2 || stderr != tc.want || stdout != "" {
				t.Errorf("status %d, stderr %q, stdout %q; want 2 and %q", code, stderr, stdout, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("bad input left files behind: %d entries in the output directory", len(entries))
			}
		})
	}
}

func TestImport_BadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content, want string
	}{
		{"empty file", "", "%s: the file is empty: want a header date,sessions; nothing imported"},
		{"wrong header", "day,count\n2023-01-01,5\n", "%s:1: the header must be date,sessions, not \"day,count\"; nothing imported"},
		{"malformed date", "date,sessions\n2023-01-01,5\n2023/01/02,5\n", "%s:3: \"2023/01/02\" is not a date: want YYYY-MM-DD; nothing imported"},
		{"impossible date", "date,sessions\n2023-02-29,5\n", "%s:2: \"2023-02-29\" is not a date: want YYYY-MM-DD; nothing imported"},
		{"negative sessions", "date,sessions\n2023-01-01,-5\n", "%s:2: sessions \"-5\" is not a whole number of at least 0; nothing imported"},
		{"missing sessions", "date,sessions\n2023-01-01\n", "%s:2: want two fields date,sessions, got \"2023-01-01\"; nothing imported"},
		{"extra field", "date,sessions\n2023-01-01,5,7\n", "%s:2: want two fields date,sessions, got \"2023-01-01,5,7\"; nothing imported"},
		{"day twice", "date,sessions\n2023-01-01,5\n2023-01-02,1\n2023-01-01,3\n", "%s:4: 2023-01-01 is listed twice (first on line 2); nothing imported"},
		{"before 1970", "date,sessions\n1969-12-31,5\n", "%s:2: 1969-12-31 is before 1970; nothing imported"},
		{"future day", "date,sessions\n2023-01-01,5\n2203-01-02,5\n",
			"%s:3: 2203-01-02 is in the future (today is " + time.Now().UTC().Format(time.DateOnly) + " UTC); nothing imported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".csv")
			if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(dir, "headcount.db")
			code, out, errOut := runCLI(t, "import", "--create", "--db", db, file)
			want := "headcount: " + fmt.Sprintf(tc.want, file) + "\n"
			if code != 2 || errOut != want || out != "" {
				t.Errorf("status %d, stderr %q, stdout %q; want 2 and %q", code, errOut, out, want)
			}
			if _, err := os.Stat(db); err == nil {
				t.Errorf("a rejected file created the database")
			}
		})
	}
	// A day already counted rejects the whole file.
	db := seedDB(t)
	again := filepath.Join(dir, "again.csv")
	if err := os.WriteFile(again, []byte("date,sessions\n2022-12-31,4\n2023-01-05,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "import", "--db", db, again)
	if want := "headcount: " + db + ": day already in the database: 2023-01-05 was imported before; nothing imported\n"; code != 2 || errOut != want {
		t.Errorf("re-import: status %d, stderr %q, want %q", code, errOut, want)
	}
	_, out, _ := runCLI(t, "export", "--db", db, "2022-12-31", "2023-01-01")
	if out != "month,sessions,gaps,environment\n2022-12,,2022-12-30_2022-12-31,UAT-ENV\n" {
		t.Errorf("a rejected import left 2022-12-31 behind: %q", out)
	}
}

// tenYears creates a database with ten years of daily history and, from the
// agent, live-session statistics for every hour.
func tenYears(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "headcount.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	var days []store.DayCount
	var hours []store.HourStat
	for d := start; d.Year() < 2025; d = d.AddDate(0, 0, 1) {
		if d.Month() == time.August && d.Day() < 10 {
			continue // a gap every summer
		}
		days = append(days, store.DayCount{Day: d, Sessions: uint64(1000 + d.YearDay())})
		for h := 0; h < 24; h++ {
			hours = append(hours, store.HourStat{Hour: d.Add(time.Duration(h) * time.Hour), Peak: 50, LiveMillis: 3600000 * 20, SampledMillis: 3600000})
		}
	}
	if err := db.Import(days); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Flush(store.Flush{Hours: hours, Completed: map[string]uint64{}, Now: time.Now(), Seq: 1}); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkExport_TenYears exports ten years of daily data, the whole
// command: open the file, read, build, render.
func BenchmarkExport_TenYears(b *testing.B) {
	db := tenYears(b)
	for _, format := range []string{"csv", "pretty", "json", "html", "summary"} {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var errb bytes.Buffer
				if code := run([]string{"headcount", "export", "--db", db, "--format", format, "2015-01-01", "2025-01-01"}, io.Discard, &errb); code != 0 {
					b.Fatalf("status %d: %s", code, errb.String())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/export")
		})
	}
}

func TestCheckAndBackup(t *testing.T) {
	db := seedDB(t)
	code, out, errOut := runCLI(t, "check", "--db", db)
	want := db + ": 322 days, 34739664 sessions, 0 hours, 322 coverage intervals, flush sequence 0\nok\n"
	if code != 0 || out != want || errOut != "" {
		t.Errorf("check: status %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}

	copyPath := filepath.Join(t.TempDir(), "copy.db")
	code, out, errOut = runCLI(t, "backup", "--db", db, copyPath)
	if code != 0 || errOut != "" || !strings.Contains(out, "322 days, 34739664 sessions, 322 coverage intervals") {
		t.Fatalf("backup: status %d, stdout %q, stderr %q", code, out, errOut)
	}
	if info, err := os.Stat(copyPath); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	_, a, _ := runCLI(t, "export", "--db", db, "2023-01-01", "2024-04-02")
	_, b, _ := runCLI(t, "export", "--db", copyPath, "2023-01-01", "2024-04-02")
	if a != b || a == "" {
		t.Errorf("the backup exports differently from the original")
	}

	// A broken invariant: completed_total no longer matches the days.
	b2, err := bbolt.Open(copyPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b2.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("completed_total"), binary.BigEndian.AppendUint64(nil, 5))
	})
	b2.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "check", "--db", copyPath)
	if code != 1 || !strings.Contains(out, "problem: started_total 0 and completed_total 5 but no flush sequence: counts were written outside a flush\n") ||
		!strings.Contains(out, "problem: completed_total is 5 but its reasons sum to 0\n") ||
		!strings.Contains(out, "problem: completed_total 5 exceeds started_total 0\n") ||
		!strings.Contains(out, "problem: the days hold 34739664 sessions but completed_total 5 + imported_total 34739664 = 34739669\n") ||
		errOut != "headcount: "+copyPath+": 4 problems found\n" {
		t.Errorf("check of a broken database: status %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A backup of that database is an exact copy, kept, but the problems
	// are said and the status is 1: a backup job must not report success.
	again := filepath.Join(t.TempDir(), "again.db")
	code, out, errOut = runCLI(t, "backup", "--db", copyPath, again)
	if code != 1 || !strings.Contains(out, "problem: completed_total 5 exceeds started_total 0\n") ||
		errOut != "headcount: "+again+" is an exact copy, but the database has 4 problems: see headcount check\n" {
		t.Errorf("backup of a broken database: status %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(again); err != nil {
		t.Errorf("the copy of a broken database was not kept: %v", err)
	}
}

// TestRun_DamagedDatabases: a truncated database, a corrupt one and one of a
// newer schema are refused by every command with one line and status 2, and
// are not modified.
func TestRun_DamagedDatabases(t *testing.T) {
	good := seedDB(t)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.db")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	if err := os.WriteFile(newer, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := bbolt.Open(newer, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 3))
	}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	cases := []struct{ file, want string }{
		{truncated, "database is corrupt: file is truncated"},
		{newer, "database has a newer schema: schema 3, this headcount reads up to 2"},
	}
	for _, tc := range cases {
		before, _ := os.ReadFile(tc.file)
		for _, args := range [][]string{
			{"serve", "--db", tc.file, "--spoe-addr", "127.0.0.1:0", "--admin-addr", ""},
			{"export", "--db", tc.file, "2023-01-01", "2023-02-01"},
			{"check", "--db", tc.file},
			{"import", "--db", tc.file, "../../report/testdata/seed/history.csv"},
		} {
			code, out, errOut := runCLI(t, args...)
			if code != 2 || out != "" || !strings.HasPrefix(errOut, "headcount: "+tc.file+": "+tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("%v: status %d, stdout %q, stderr %q; want status 2 and %q", args, code, out, errOut, tc.want)
			}
		}
		if after, _ := os.ReadFile(tc.file); !bytes.Equal(before, after) {
			t.Errorf("%s was modified", tc.file)
		}
	}
}

// TestServe_ReadOnlyDirectory: a database in a directory that cannot be
// written is refused at start with one line, and nothing is left running.
func TestServe_ReadOnlyDirectory(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a read-only tmpfs (this test needs root, as CI has): %v: %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	db := filepath.Join(dir, "headcount.db")
	code, out, errOut := runCLI(t, "serve", "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", "")
	want := "headcount: open " + db + ": read-only file system\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("status %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, want)
	}
}

// TestServe_Defaults: the agent listens on loopback unless told otherwise.
func TestServe_Defaults(t *testing.T) {
	want := map[string]string{"spoe-addr": "127.0.0.1:12345", "admin-addr": "127.0.0.1:9345", "db": "./headcount.db"}
	for _, f := range serveFlags() {
		if sf, ok := f.(interface{ GetDefaultText() string }); ok {
			name := f.Names()[0]
			if w, ok := want[name]; ok && !strings.Contains(sf.GetDefaultText(), w) {
				t.Errorf("--%s defaults to %s, want %s", name, sf.GetDefaultText(), w)
			}
			delete(want, name)
		}
	}
	if len(want) != 0 {
		t.Errorf("flags not found: %v", want)
	}
}

func TestLicense_KeygenSignVerifyShow(t *testing.T) {
	dir := t.TempDir()
	vendor := filepath.Join(dir, "vendor")
	code, out, errOut := runCLI(t, "keygen", vendor)
	if code != 0 || out != "wrote "+vendor+".key (private, keep it secret) and "+vendor+".pub\n" || errOut != "" {
		t.Fatalf("keygen: %d %q %q", code, out, errOut)
	}
	if info, err := os.Stat(vendor + ".key"); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	if code, _, errOut := runCLI(t, "keygen", vendor); code != 2 || errOut != "headcount: "+vendor+".key exists: keygen never overwrites a key\n" {
		t.Errorf("keygen over an existing key: %d %q", code, errOut)
	}
	end := time.Now().UTC().AddDate(0, 0, 100).Format("2006-01-02")
	doc := filepath.Join(dir, "license.json")
	writeTestFile(t, doc, `{"license_id":"L-7","licensee":"Example Bank","deployment_id":"dx-prod","product":"headcount",
		"entitled_sessions_per_year":4000000,"contract_start":"2026-01-01","contract_end":"`+end+`","issued_at":"2025-12-01T09:00:00Z"}`)
	signedPath := filepath.Join(dir, "license.signed")
	if code, _, errOut := runCLI(t, "license", "sign", "--key", vendor+".key", "--output", signedPath, doc); code != 0 || errOut != "" {
		t.Fatalf("license sign: %d %q", code, errOut)
	}
	code, out, _ = runCLI(t, "license", "verify", "--pubkey", vendor+".pub", signedPath)
	wantPrefix := "signature ok; entitlement valid: licence L-7 for dx-prod, 4000000 sessions a year, contract ends on " + end + " ("
	if code != 0 || !strings.HasPrefix(out, wantPrefix) || !strings.HasSuffix(out, " days left)\n") {
		t.Errorf("license verify: %d %q", code, out)
	}
	code, out, _ = runCLI(t, "license", "show", "--pubkey", vendor+".pub", signedPath)
	if code != 0 || !strings.Contains(out, "licence      L-7\nlicensee     Example Bank\ndeployment   dx-prod\n") {
		t.Errorf("license show: %d %q", code, out)
	}

	signed, _ := os.ReadFile(signedPath)
	forged := filepath.Join(dir, "forged")
	writeTestFile(t, forged, strings.Replace(string(signed), "4000000", "9000000", 1))
	other := filepath.Join(dir, "other")
	runCLI(t, "keygen", other)
	for _, tc := range []struct{ name, file, pub string }{
		{"edited", forged, vendor + ".pub"},
		{"another vendor's key", signedPath, other + ".pub"},
	} {
		code, _, errOut := runCLI(t, "license", "verify", "--pubkey", tc.pub, tc.file)
		if code != 1 || errOut != "headcount: "+tc.file+": the signature does not match: the file was changed or not signed with the vendor's key\n" {
			t.Errorf("%s: status %d, stderr %q", tc.name, code, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "license", "verify", signedPath); code != 2 || errOut != "headcount: no vendor public key: add --pubkey FILE (this binary has none built in)\n" {
		t.Errorf("no key: %d %q", code, errOut)
	}
}

func writeTestFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLicense_Extend: a vendor's extension token applies once, to a
// recorded grace period, its days counting from its issue (or the grace
// period's end, if later); a token applied with no grace period recorded or
// whose days are over is refused and stays unused; a second use, or a token
// for another deployment, is refused; help says the rule.
func TestLicense_Extend(t *testing.T) {
	dir := t.TempDir()
	vendor := filepath.Join(dir, "vendor")
	runCLI(t, "keygen", vendor)
	now := time.Now().UTC()
	token := func(name string, issued time.Time) string {
		doc := filepath.Join(dir, name+".json")
		writeTestFile(t, doc, `{"token_id":"`+name+`","deployment_id":"dx-prod","extension_days":14,"issued_at":"`+issued.Format(time.RFC3339)+`"}`)
		path := filepath.Join(dir, name+".token")
		if code, _, errOut := runCLI(t, "license", "sign-extension", "--key", vendor+".key", "--output", path, doc); code != 0 {
			t.Fatalf("sign-extension: %d %q", code, errOut)
		}
		return path
	}
	issued := now.Add(-time.Hour).Truncate(time.Minute)
	fresh := token("X-1", issued)
	stale := token("X-0", issued.AddDate(0, 0, -17)) // 2 days after the grace period's end
	db := filepath.Join(dir, "headcount.db")
	extend := func(tok string) (int, string, string) {
		return runCLI(t, "license", "extend", "--db", db, "--pubkey", vendor+".pub", "--deployment", "dx-prod", tok)
	}
	state := func() string {
		d, err := store.Open(db, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		raw, err := d.EntitlementState()
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}

	if code, _, errOut := runCLI(t, "import", "--create", "--db", db, writeHistory(t, dir)); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	code, out, errOut := extend(fresh)
	if code != 2 || out != "" || errOut != "headcount: no grace period is recorded: the entitlement was valid at the agent's last check, or was never checked; an extension is for a grace period that runs or has ended (the token was not used: keep it)\n" {
		t.Errorf("with no grace period: %d %q %q", code, out, errOut)
	}

	// The grace period ended 20 days ago, as the agent recorded it.
	graceStart := now.Add(-entitlement.GracePeriod - 20*24*time.Hour)
	d, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recorded := `{"grace_start":"` + graceStart.Format(time.RFC3339Nano) + `"}`
	if err := d.SetEntitlementState([]byte(recorded)); err != nil {
		t.Fatal(err)
	}
	d.Close()

	code, out, errOut = extend(stale)
	wantStale := "headcount: the extension adds nothing: token X-0's 14 days ran from its issue on " + issued.AddDate(0, 0, -17).Format("2006-01-02 15:04") +
		" UTC to " + issued.AddDate(0, 0, -3).Format("2006-01-02 15:04") + " UTC, which has passed (now "
	if code != 2 || out != "" || !strings.HasPrefix(errOut, wantStale) || !strings.HasSuffix(errOut, " UTC); it was not used: ask the vendor for a new token\n") {
		t.Errorf("a token whose days are over: %d %q\n%q\nwant the prefix\n%q", code, out, errOut, wantStale)
	}
	if got := state(); got != recorded {
		t.Errorf("a refused token changed the state: %s", got)
	}

	code, out, errOut = extend(fresh)
	want := "applied token X-1 (14 days): the grace period now ends on " + issued.AddDate(0, 0, 14).Format("2006-01-02 15:04") +
		" UTC, 14 days after its issue on " + issued.Format("2006-01-02 15:04") + " UTC (14 days from now)\n"
	if code != 0 || out != want || errOut != "" {
		t.Errorf("extend 20 days after the grace period's end: %d %q %q\nwant %q", code, out, errOut, want)
	}
	code, _, errOut = extend(fresh)
	if code != 2 || errOut != "headcount: the one-time extension was already applied (token X-1, 14 days)\n" {
		t.Errorf("second extend: %d %q", code, errOut)
	}
	signed, _ := os.ReadFile(fresh)
	forged := filepath.Join(dir, "forged.token")
	writeTestFile(t, forged, strings.Replace(string(signed), `"extension_days":14`, `"extension_days":9`, 1))
	code, _, errOut = extend(forged)
	if code != 1 || errOut != "headcount: "+forged+": the signature does not match: the file was changed or not signed with the vendor's key\n" {
		t.Errorf("forged token: %d %q", code, errOut)
	}

	_, help, _ := runCLI(t, "license", "extend", "--help")
	wantHelp := "The token's days count from its issue (issued_at), or from the end of the grace period if that is\n" +
		"   later: applied while the grace period runs it adds its days to the end; applied after the end, the\n" +
		"   grace period ends its days after the token's issue, so apply it when it arrives. A token whose days\n" +
		"   are over, or applied while no grace period is recorded (the agent records one at its checks), is\n" +
		"   refused and not used. A deployment gets one extension, ever: a second token is refused."
	if !strings.Contains(help, wantHelp) {
		t.Errorf("license extend --help lacks the rule:\n%s", help)
	}
}

// writeHistory writes a one-day history file for import into dir.
func writeHistory(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "history.csv")
	writeTestFile(t, path, "date,sessions\n2026-01-05,3\n")
	return path
}

// usageLicence writes into dir a vendor key pair (dir/vendor.key, .pub) and
// a licence it signed (the returned path) for 100,000 sessions a year from
// start, 100 days before today, and returns today and start too.
func usageLicence(t *testing.T, dir string) (today, start time.Time, vendor, lic string) {
	t.Helper()
	vendor = filepath.Join(dir, "vendor")
	runCLI(t, "keygen", vendor)
	today = time.Now().UTC().Truncate(24 * time.Hour)
	start = today.AddDate(0, 0, -100)
	doc := filepath.Join(dir, "license.json")
	writeTestFile(t, doc, fmt.Sprintf(`{"license_id":"L-9","deployment_id":"dx-prod","entitled_sessions_per_year":100000,"contract_start":%q,"contract_end":%q}`,
		start.Format("2006-01-02"), start.AddDate(1, 0, -1).Format("2006-01-02")))
	lic = filepath.Join(dir, "license.signed")
	runCLI(t, "license", "sign", "--key", vendor+".key", "--output", lic, doc)
	return today, start, vendor, lic
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	today, start, vendor, lic := usageLicence(t, dir)
	history := "date,sessions\n"
	for d := start.AddDate(0, 0, -10); !d.After(today); d = d.AddDate(0, 0, 1) {
		history += d.Format("2006-01-02") + ",500\n" // 10 days before the contract year do not count
	}
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, history)
	db := filepath.Join(dir, "headcount.db")
	if code, _, errOut := runCLI(t, "import", "--create", "--db", db, hist); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	code, out, errOut := runCLI(t, "usage", "--db", db, "--license", lic, "--license-pubkey", vendor+".pub")
	// 101 days of 500 in the contract year; 49,500 left at 500 a day: 99 days.
	want := fmt.Sprintf("licence L-9 for dx-prod: contract year %s to %s\nsessions used 50500 of 100000 (50.5 %%)\nrecent rate 500 sessions a day (averaged over the 30 metered days of the last 30; days not metered are left out)\nat this rate the entitlement runs out on %s\n",
		start.Format("2006-01-02"), start.AddDate(1, 0, -1).Format("2006-01-02"), today.AddDate(0, 0, 99).Format("2006-01-02"))
	if code != 0 || out != want || errOut != "" {
		t.Errorf("usage: %d\n%s\nwant:\n%s\nstderr %q", code, out, want, errOut)
	}

	// The same figures in the JSON and HTML reports.
	from, to := today.AddDate(0, 0, -7).Format("2006-01-02"), today.AddDate(0, 0, 1).Format("2006-01-02")
	_, js, errOut := runCLI(t, "export", "--db", db, "--format", "json", "--license", lic, "--license-pubkey", vendor+".pub", from, to)
	wantJSON := fmt.Sprintf(`"consumption": {"license_id":"L-9","deployment_id":"dx-prod","contract_year_start":%q,"contract_year_end":%q,"entitled_sessions":100000,"used_sessions":50500,"used_percent":50.5,"daily_rate_30_days":500,"daily_rate_metered_days":30,"forecast_runs_out":%q},`,
		start.Format("2006-01-02"), start.AddDate(1, 0, 0).Format("2006-01-02"), today.AddDate(0, 0, 99).Format("2006-01-02"))
	if !strings.Contains(js, wantJSON) {
		t.Errorf("JSON report lacks\n%s\n(stderr %q)", wantJSON, errOut)
	}
	_, html, _ := runCLI(t, "export", "--db", db, "--format", "html", "--license", lic, "--license-pubkey", vendor+".pub", from, to)
	if !strings.Contains(html, `<strong>50,500</strong> of 100,000 sessions used (50.5 %)`) {
		t.Errorf("HTML report lacks the consumption")
	}
	if _, csv, _ := runCLI(t, "export", "--db", db, "--license", lic, "--license-pubkey", vendor+".pub", from, to); strings.Contains(csv, "50500") {
		t.Errorf("the CSV changed with --license")
	}
}

// TestScheduledReports_EqualExport: a scheduled report holds exactly what
// headcount export --by day prints for its period.
func TestScheduledReports_EqualExport(t *testing.T) {
	db := seedDB(t)
	s, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sched := export.Schedule{Dir: t.TempDir(), Name: "weekly", Every: 7 * 24 * time.Hour, Settle: time.Hour, Since: 3 * 365 * 24 * time.Hour}
	written, err := sched.WriteDue(s, time.Date(2024, 4, 10, 0, 0, 0, 0, time.UTC))
	s.Close()
	if err != nil || len(written) < 40 {
		t.Fatalf("%d weekly reports (%v)", len(written), err)
	}
	for _, start := range []string{"2023-01-01", "2023-04-09", "2023-10-22", "2024-03-10"} {
		from, _ := time.Parse("2006-01-02", start)
		got, err := os.ReadFile(sched.Path(from))
		if err != nil {
			t.Fatal(err)
		}
		_, want, _ := runCLI(t, "export", "--db", db, "--by", "day", from.Format("2006-01-02"), from.AddDate(0, 0, 7).Format("2006-01-02"))
		if string(got) != want {
			t.Errorf("week of %s:\n%s\nexport --by day:\n%s", start, got, want)
		}
	}
}

// TestBackup_OntoTheDatabase: a backup whose destination is the database
// itself — the same path, a ./ alias, a symlink or a hard link to it — is
// refused with one line and status 2, and the file is left byte for byte,
// also while a process (the agent) holds it.
func TestBackup_OntoTheDatabase(t *testing.T) {
	db := seedDB(t)
	dir := filepath.Dir(db)
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	symlink := filepath.Join(dir, "link.db")
	if err := os.Symlink(db, symlink); err != nil {
		t.Fatal(err)
	}
	hardlink := filepath.Join(dir, "hard.db")
	if err := os.Link(db, hardlink); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	check := func(t *testing.T, dest string) {
		t.Helper()
		code, out, errOut := runCLI(t, "backup", "--db", db, dest)
		want := "headcount: backup " + dest + ": that is the database " + db + " itself; write the copy to another file\n"
		if code != 2 || out != "" || errOut != want {
			t.Errorf("status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
		}
		after, err := os.ReadFile(db)
		if err != nil || !bytes.Equal(before, after) {
			t.Errorf("the database changed (%v)", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 3 {
			t.Errorf("%d entries in the database's directory, want the database and its two links", len(entries))
		}
	}
	for _, tc := range []struct{ name, dest string }{
		{"same path", db},
		{"relative alias", "./" + filepath.Base(db)},
		{"symlink", symlink},
		{"hard link", hardlink},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.dest) })
		t.Run(tc.name+" while held", func(t *testing.T) {
			agent, err := store.Open(db, store.Options{}) // holds the file as a running agent does
			if err != nil {
				t.Fatal(err)
			}
			defer agent.Close()
			check(t, tc.dest)
		})
	}
}

// TestBackup_OntoAHeldDatabase: a destination that another headcount
// process holds open (an agent writing it, or a reader) is never replaced.
func TestBackup_OntoAHeldDatabase(t *testing.T) {
	src := seedDB(t)
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	code, _, errOut := runCLI(t, "backup", "--db", src, other)
	if code != 0 {
		t.Fatalf("backup: %s", errOut)
	}
	before, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []store.Options{{}, {ReadOnly: true}} {
		held, err := store.Open(other, opts)
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI(t, "backup", "--db", src, other)
		held.Close()
		want := "headcount: backup " + other + ": that file is a database in use by a running headcount process; write the copy to another file\n"
		if code != 2 || out != "" || errOut != want {
			t.Errorf("read-only %v: status %d, stdout %q, stderr %q; want 2 and %q", opts.ReadOnly, code, out, errOut, want)
		}
		after, err := os.ReadFile(other)
		if err != nil || !bytes.Equal(before, after) {
			t.Errorf("read-only %v: the held database changed (%v)", opts.ReadOnly, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%d entries in the destination's directory, want 1", len(entries))
		}
	}
	// Once nothing holds it, the old backup is replaced as before.
	if code, _, errOut := runCLI(t, "backup", "--db", src, other); code != 0 {
		t.Errorf("backup over a file nothing holds: status %d, %s", code, errOut)
	}
}

// TestImport_Create: import makes a new database only when told to with
// --create; otherwise a missing --db is refused, teaching the flag, and
// nothing is created.
func TestImport_Create(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, "date,sessions\n2023-01-01,5\n")
	db := filepath.Join(dir, "typo.db")
	code, out, errOut := runCLI(t, "import", "--db", db, hist)
	want := "headcount: " + db + " does not exist; pass --create to make a new database\n"
	if code != 2 || out != "" || errOut != want {
		t.Errorf("status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
	}
	if _, err := os.Stat(db); err == nil {
		t.Errorf("import without --create created the database")
	}
	code, out, errOut = runCLI(t, "import", "--create", "--db", db, hist)
	if want := "imported 1 day (2023-01-01 to 2023-01-01), 5 sessions, into " + db + "\n"; code != 0 || out != want || errOut != "" {
		t.Errorf("--create: status %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	// --create on an existing database adds to it.
	writeTestFile(t, hist, "date,sessions\n2023-01-02,7\n")
	if code, _, errOut := runCLI(t, "import", "--create", "--db", db, hist); code != 0 {
		t.Errorf("--create on an existing database: status %d, %s", code, errOut)
	}
	if _, out, _ := runCLI(t, "export", "--db", db, "2023-01-01", "2023-01-03"); !strings.Contains(out, "2023-01,12,") {
		t.Errorf("export after two imports: %q", out)
	}
}

// TestOutput_OneOfEach: a count of one is written in the singular ("1 day",
// never "1 days") in what import, check and backup print.
func TestOutput_OneOfEach(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, "date,sessions\n2023-01-01,1\n")
	db := filepath.Join(dir, "one.db")
	code, out, errOut := runCLI(t, "import", "--create", "--db", db, hist)
	if want := "imported 1 day (2023-01-01 to 2023-01-01), 1 session, into " + db + "\n"; code != 0 || out != want || errOut != "" {
		t.Errorf("import: status %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	code, out, errOut = runCLI(t, "check", "--db", db)
	if want := db + ": 1 day, 1 session, 0 hours, 1 coverage interval, flush sequence 0\nok\n"; code != 0 || out != want || errOut != "" {
		t.Errorf("check: status %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	copyPath := filepath.Join(dir, "copy.db")
	code, out, errOut = runCLI(t, "backup", "--db", db, copyPath)
	info, err := os.Stat(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("backed up %s to %s: %d bytes, 1 day, 1 session, 1 coverage interval\n", db, copyPath, info.Size())
	if code != 0 || out != want || errOut != "" {
		t.Errorf("backup: status %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
}

// TestRun_MissingDirectory: a file to be written in a directory that does
// not exist is bad input (status 2) that names the directory, and nothing is
// created: headcount makes files, never directories.
func TestRun_MissingDirectory(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, "date,sessions\n2023-01-01,5\n")
	db := filepath.Join(dir, "headcount.db")
	if code, _, errOut := runCLI(t, "import", "--create", "--db", db, hist); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	missing := filepath.Join(dir, "no-such-dir")
	at := filepath.Join(missing, "x")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"serve --db", []string{"serve", "--db", at, "--spoe-addr", "127.0.0.1:0", "--admin-addr", ""},
			"headcount: --db " + at + ": the directory " + missing + " does not exist; create it first\n"},
		{"import --create --db", []string{"import", "--create", "--db", at, hist},
			"headcount: --db " + at + ": the directory " + missing + " does not exist; create it first\n"},
		{"keygen", []string{"keygen", at},
			"headcount: keygen " + at + ": the directory " + missing + " does not exist; create it first\n"},
		{"backup", []string{"backup", "--db", db, at},
			"headcount: backup " + at + ": the directory " + missing + " does not exist; create it first\n"},
		{"export --output", []string{"export", "--db", db, "--output", at, "2023-01-01", "2023-02-01"},
			"headcount: --output " + at + ": the directory " + missing + " does not exist; create it first\n"},
		{"metrics-file --output", []string{"metrics-file", "--db", db, "--key", filepath.Join(dir, "none.key"), "--deployment", "dx", "--output", at, "2023-01-01", "2023-01-02"},
			"headcount: --output " + at + ": the directory " + missing + " does not exist; create it first\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != 2 || out != "" || errOut != tc.want {
				t.Errorf("status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tc.want)
			}
			if _, err := os.Stat(missing); err == nil {
				t.Errorf("the missing directory was created")
			}
		})
	}
}

// TestRun_MissingInput: a file to read that is missing or not a file is bad
// input (status 2), said in one line that names the command or flag.
func TestRun_MissingInput(t *testing.T) {
	dir := t.TempDir()
	none := filepath.Join(dir, "none.csv")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"import", []string{"import", "--create", "--db", filepath.Join(dir, "new.db"), none},
			"headcount: import " + none + ": no such file\n"},
		{"import of a directory", []string{"import", "--create", "--db", filepath.Join(dir, "new.db"), dir},
			"headcount: import " + dir + ": is a directory\n"},
		{"verify", []string{"verify", "--pubkey", filepath.Join(dir, "site.pub"), none},
			"headcount: verify " + none + ": no such file\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != 2 || out != "" || errOut != tc.want {
				t.Errorf("status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "new.db")); err == nil {
		t.Errorf("import of a missing file created the database")
	}
}

// TestKeygen_PrintBuildKey: --print-build-key prints the public key as
// main.licensePubKey takes it (vendorKey reads it back to the same key), and
// refuses a file that is no public key, saying which file to name.
func TestKeygen_PrintBuildKey(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "vendor")
	if code, _, errOut := runCLI(t, "keygen", name); code != 0 {
		t.Fatalf("keygen: %s", errOut)
	}
	code, out, errOut := runCLI(t, "keygen", "--print-build-key", name+".pub")
	if code != 0 || errOut != "" || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("status %d, stdout %q, stderr %q; want one line", code, out, errOut)
	}
	fromFile, err := vendorKey("--pubkey", name+".pub")
	if err != nil {
		t.Fatal(err)
	}
	saved := licensePubKey
	defer func() { licensePubKey = saved }()
	licensePubKey = strings.TrimSuffix(out, "\n")
	builtIn, err := vendorKey("--pubkey", "")
	if err != nil || !builtIn.Equal(fromFile) {
		t.Errorf("the printed value read as the built-in key: %v, %v; want the key of %s.pub", builtIn, err, name)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"keygen", "--print-build-key", name + ".key"},
			"headcount: --print-build-key " + name + ".key: not a PEM public key; name the .pub file that headcount keygen wrote\n"},
		{[]string{"keygen", "--print-build-key", name + ".pem"},
			"headcount: --print-build-key " + name + ".pem: no such file\n"},
		{[]string{"keygen", "--print-build-key", name + ".pub", "other"},
			"headcount: keygen --print-build-key takes no NAME: it prints the key of the file it names and writes none\n"},
	} {
		if code, out, errOut := runCLI(t, tc.args...); code != 2 || out != "" || errOut != tc.want {
			t.Errorf("%v: status %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// check lists the flush entries set aside and the flushes of a pending file
// the database does not hold yet, and counts a pending file that does not
// continue the database's sequence as a problem.
func TestCheck_SetAsideAndPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)
	if _, err := db.Flush(store.Flush{Days: []store.DayCount{{Day: day, Sessions: 2}, {Day: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), Sessions: 3}},
		Started: 5, Completed: map[string]uint64{"idle": 5}, Now: day.Add(time.Hour), Seq: 1}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	next := store.Flush{Started: 1, Completed: map[string]uint64{}, Now: day.Add(2 * time.Hour), Seq: 2}
	if err := store.WritePending(path, []store.Flush{next, {Started: 1, Completed: map[string]uint64{}, Now: day.Add(3 * time.Hour), Seq: 3}}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "check", "--db", path)
	want := path + ": 1 day, 2 sessions, 0 hours, 0 coverage intervals, flush sequence 1\n" +
		"set aside: flush 1: day of 1969-12-31T00:00:00Z with 3 sessions: day 1969-12-31T00:00:00Z is outside the years 1970-9999\n" +
		"pending: " + path + ".pending holds flushes 2-3 the database does not hold yet; the agent applies them at its next start\n" +
		"ok\n"
	if code != 0 || out != want || errOut != "" {
		t.Errorf("check: status %d\nstdout %q\nwant   %q\nstderr %q", code, out, want, errOut)
	}

	next.Seq = 5
	if err := store.WritePending(path, []store.Flush{next}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "check", "--db", path)
	wantProblem := "problem: " + path + ".pending holds flush 5 where flush 2 comes next (the database holds flush 1): it is not this database's\n"
	if code != 1 || !strings.HasSuffix(out, wantProblem) || errOut != "headcount: "+path+": 1 problem found\n" {
		t.Errorf("check with another database's pending file: status %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}
