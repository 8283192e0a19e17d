package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"headcount/store"
)

// warnings returns the log records of level warn.
func warnings(records []map[string]any) []map[string]any {
	var out []map[string]any
	for _, r := range records {
		if r["level"] == "warn" {
			out = append(out, r)
		}
	}
	return out
}

// TestServe_EnvironmentMismatch runs the real binary: the first start
// stores the environment; a later start given another one keeps the stored
// id and says so in one warning naming both and the rename command (ready to
// paste: the path has a space); the host-name fallback is no choice and
// warns of nothing; a rename is refused while the agent runs, then done and
// recorded in the history, after which the new id starts without a warning.
func TestServe_EnvironmentMismatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meter data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "headcount.db")
	serveArgs := func(extra ...string) []string {
		return append([]string{"--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, extra...)
	}
	start := func(t *testing.T, env []string, extra ...string) (*servingAgent, []map[string]any) {
		t.Helper()
		a := startServe(t, env, serveArgs(extra...)...)
		records := a.waitMetering(t)
		return a, records
	}
	stop := func(t *testing.T, a *servingAgent) {
		t.Helper()
		if code := a.stop(t); code != 0 {
			t.Fatalf("the agent exited with status %d", code)
		}
	}
	metering := func(records []map[string]any) map[string]any { return records[len(records)-1] }

	a, records := start(t, processEnv(), "--environment", "prod")
	if w := warnings(records); len(w) != 0 || metering(records)["environment"] != "prod" {
		t.Errorf("first start: warnings %v, environment %v; want none and prod", w, metering(records)["environment"])
	}
	stop(t, a)

	wantWarning := `the environment given, "uat", is not the database's, "prod", which the agent keeps and reports name; ` +
		`to rename it, stop the agent and run: headcount environment rename --db '` + db + `' uat`
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"--environment", processEnv(), []string{"--environment", "uat"}},
		{"HEADCOUNT_ENVIRONMENT", processEnv("HEADCOUNT_ENVIRONMENT=uat"), nil},
		{"RELEASE-NAMESPACE", processEnv("HEADCOUNT_RELEASE=uat", "POD_NAMESPACE=x"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := wantWarning
			given := "uat"
			if tc.name == "RELEASE-NAMESPACE" {
				given = "uat-x"
				want = strings.ReplaceAll(wantWarning, "uat", "uat-x")
			}
			a, records := start(t, tc.env, tc.args...)
			w := warnings(records)
			if len(w) != 1 || w[0]["message"] != want || w[0]["environment"] != "prod" || w[0]["given_environment"] != given {
				t.Errorf("warnings %v; want one:\n%s", w, want)
			}
			if env := metering(records)["environment"]; env != "prod" {
				t.Errorf("the agent meters as %v, want the stored prod", env)
			}
			stop(t, a)
		})
	}

	a, records = start(t, processEnv()) // the host name: no choice made, nothing to warn of
	if w := warnings(records); len(w) != 0 || metering(records)["environment"] != "prod" {
		t.Errorf("host-name fallback: warnings %v, environment %v; want none and prod", w, metering(records)["environment"])
	}
	adminAddr, _ := metering(records)["admin_addr"].(string)
	code, out, errOut := runBinary(t, "environment", "rename", "--db", db, "uat")
	if want := "headcount: " + db + " is in use by a running headcount process; stop the agent, rename, then start it with --environment uat\n"; code != 2 || out != "" || errOut != want {
		t.Errorf("rename while the agent runs: status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
	}
	code, out, errOut = runBinary(t, "environment", "show", "--db", db, "--admin-addr", adminAddr)
	if want := db + ": environment \"prod\", never renamed\n"; code != 0 || out != want {
		t.Errorf("show while the agent runs: status %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	stop(t, a)

	before := time.Now().UTC().Truncate(time.Second)
	code, out, errOut = runBinary(t, "environment", "rename", "--db", db, "uat")
	if want := "renamed the environment of " + db + " from \"prod\" to \"uat\"; recorded in its history\n"; code != 0 || out != want || errOut != "" {
		t.Errorf("rename: status %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	after := time.Now().UTC()
	code, out, _ = runBinary(t, "environment", "show", "--db", db)
	m := regexp.MustCompile(`^` + regexp.QuoteMeta(db+": environment \"uat\"\n") + `(\S+) renamed from "prod" to "uat"\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("show after the rename: status %d, %q", code, out)
	}
	if at, err := time.Parse(time.RFC3339, m[1]); err != nil || at.Before(before) || at.After(after) {
		t.Errorf("the rename is recorded at %s, want between %s and %s", m[1], before, after)
	}

	a, records = start(t, processEnv(), "--environment", "uat")
	if w := warnings(records); len(w) != 0 || metering(records)["environment"] != "uat" {
		t.Errorf("start after the rename: warnings %v, environment %v; want none and uat", w, metering(records)["environment"])
	}
	stop(t, a)
	today := time.Now().UTC()
	if _, out, _ := runBinary(t, "export", "--db", db, today.Format("2006-01-02"), today.AddDate(0, 0, 1).Format("2006-01-02")); !strings.HasSuffix(out, ",uat\n") {
		t.Errorf("the report does not name the new environment: %q", out)
	}
}

// TestEnvironment_Rename checks rename's and show's messages, in-process.
func TestEnvironment_Rename(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, "date,sessions\n2023-01-01,5\n")
	db := filepath.Join(dir, "headcount.db")
	if code, _, errOut := runCLI(t, "import", "--create", "--db", db, hist); code != 0 {
		t.Fatal(errOut)
	}
	missing := filepath.Join(dir, "typo.db")

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no id", []string{"environment", "rename", "--db", db},
			"headcount: environment rename takes the new id after the flags, e.g. headcount environment rename --db ./headcount.db prod-eu\n"},
		{"flags after the id", []string{"environment", "rename", "prod", "--db", db},
			"headcount: environment rename takes the new id after the flags, e.g. headcount environment rename --db ./headcount.db prod-eu\n"},
		{"empty id", []string{"environment", "rename", "--db", db, ""},
			"headcount: environment id \"\": want printable text without spaces at either end, e.g. prod-eu\n"},
		{"space at the end", []string{"environment", "rename", "--db", db, "prod "},
			"headcount: environment id \"prod \": want printable text without spaces at either end, e.g. prod-eu\n"},
		{"control character", []string{"environment", "rename", "--db", db, "prod\neu"},
			"headcount: environment id \"prod\\neu\": want printable text without spaces at either end, e.g. prod-eu\n"},
		{"missing database", []string{"environment", "rename", "--db", missing, "prod"},
			"headcount: " + missing + " does not exist; name the agent's database with --db\n"},
		{"unknown command", []string{"environment", "frob"},
			"headcount: environment has no command \"frob\"; see headcount environment --help\n"},
		{"show takes no arguments", []string{"environment", "show", "--db", db, "prod"},
			"headcount: environment show takes no arguments; name the database with --db\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != 2 || out != "" || errOut != tc.want {
				t.Errorf("status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tc.want)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("rename created a database")
	}

	if code, out, _ := runCLI(t, "environment", "show", "--db", db); code != 0 || out != db+": no environment stored yet; the agent stores one on its first start\n" {
		t.Errorf("show without an id: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "environment", "rename", "--db", db, "prod"); code != 0 || out != "set the environment of "+db+" to \"prod\" (it had none); recorded in its history\n" {
		t.Errorf("first rename: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "environment", "rename", "--db", db, "prod"); code != 0 || out != "the environment of "+db+" is already \"prod\"; nothing changed\n" {
		t.Errorf("rename to the same id: %d %q", code, out)
	}
	code, out, _ := runCLI(t, "environment", "show", "--db", db)
	if !regexp.MustCompile(`^`+regexp.QuoteMeta(db+": environment \"prod\"\n")+`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ set to "prod" \(there was none\)\n$`).MatchString(out) || code != 0 {
		t.Errorf("show: %d %q", code, out)
	}

	held, err := store.Open(db, store.Options{}) // as the running agent holds it
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "environment", "rename", "--db", db, "it's new")
	held.Close()
	if want := "headcount: " + db + " is in use by a running headcount process; stop the agent, rename, then start it with --environment 'it'\\''s new'\n"; code != 2 || out != "" || errOut != want {
		t.Errorf("rename of a held database: status %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}

	code, out, _ = runCLI(t, "environment", "rename", "--help")
	for _, want := range []string{"records the change (UTC time, old id, new id)", "The agent must be stopped", "--environment NEW"} {
		if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("rename --help lacks %q:\n%s", want, out)
		}
	}
}

// TestImport_EnvironmentMismatch: import --environment stores the id in a
// database without one, and refuses, importing nothing, a database whose id
// differs.
func TestImport_EnvironmentMismatch(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "headcount.db")
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, "date,sessions\n2023-01-01,5\n")
	if code, _, errOut := runCLI(t, "import", "--create", "--db", db, "--environment", "prod", hist); code != 0 {
		t.Fatal(errOut)
	}
	writeTestFile(t, hist, "date,sessions\n2023-01-02,7\n")
	code, out, errOut := runCLI(t, "import", "--db", db, "--environment", "uat", hist)
	want := "headcount: --environment \"uat\" is not the database's environment \"prod\"; nothing imported. " +
		"Import without --environment, or rename the environment first: headcount environment rename --db " + db + " uat\n"
	if code != 2 || out != "" || errOut != want {
		t.Errorf("status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
	}
	s, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	days, err := s.Days(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2023, 1, 3, 0, 0, 0, 0, time.UTC))
	env, _ := s.Environment()
	s.Close()
	if err != nil || len(days) != 1 || days[0].Sessions != 5 || env != "prod" {
		t.Errorf("after the refused import: days %v (%v), environment %q; want 2023-01-01 alone and prod", days, err, env)
	}
	if code, _, errOut := runCLI(t, "import", "--db", db, "--environment", "prod", hist); code != 0 {
		t.Errorf("import with the database's own id: %s", errOut)
	}
	code, _, errOut = runCLI(t, "import", "--db", db, "--environment", "\tprod", hist)
	if want := "headcount: environment id \"\\tprod\": want printable text without spaces at either end, e.g. prod-eu\n"; code != 2 || errOut != want {
		t.Errorf("bad id: status %d, stderr %q; want %q", code, errOut, want)
	}
}
