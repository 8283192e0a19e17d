package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"headcount/store"
)

// releaseDB is a schema-1 database written by the last release of schema 1
// (store/testdata/README.md says how); releaseReports holds that release's
// exports of it, which every build must print the same.
const (
	releaseDB      = "../../store/testdata/schema1-release.bbolt"
	releaseReports = "testdata/schema1-release"
)

// copyReleaseDB copies releaseDB into a new directory and returns the copy's path.
func copyReleaseDB(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(releaseDB)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "headcount.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// releaseExports lists the exports in releaseReports: file name → the
// export's arguments after --db.
func releaseExports() map[string][]string {
	out := map[string][]string{}
	for _, by := range []string{"day", "week", "month", "year"} {
		out["csv-"+by+".csv"] = []string{"--by", by, "2025-08-01", "2026-11-01"}
		out["pretty-"+by+".txt"] = []string{"--by", by, "--pretty", "2025-08-01", "2026-11-01"}
	}
	return out
}

// mustExportAsReleased checks that every export of releaseReports (only
// those named, if any), run by bin on db, prints that release's bytes.
// With --bots exclude, the pretty form adds the line that says how many
// unclassified sessions it kept: all of them, for a file of schema 1. The
// pretty form by week, day and year names its periods since that release
// (`Session usage for the week of 2025-08-24`, where the release printed
// `Session usage for 2025-08-24`); every figure stays the same.
func mustExportAsReleased(t *testing.T, bin, db, what string, bots string, only ...string) {
	t.Helper()
	for name, args := range releaseExports() {
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(releaseReports, name))
		if err != nil {
			t.Fatal(err)
		}
		want := string(data)
		if kind, ok := map[string]string{"pretty-week.txt": "the week of ", "pretty-day.txt": "the day ", "pretty-year.txt": "the year "}[name]; ok {
			want = strings.ReplaceAll(want, "\nSession usage for ", "\nSession usage for "+kind)
		}
		if bots == "exclude" && strings.HasPrefix(name, "pretty-") {
			total := "Total session usage: 81311\n"
			want = strings.Replace(want, total, total+"Unclassified sessions counted (--bots exclude keeps them): 81311\n", 1)
		}
		code, out, errOut := runBinaryAt(t, bin, append([]string{"export", "--db", db, "--bots", bots}, args...)...)
		if code != 0 || out != want {
			t.Errorf("%s: export --bots %s %v: status %d, stderr %q, %d bytes; want the release's %s (%d bytes)",
				what, bots, args, code, errOut, len(out), name, len(want))
		}
	}
}

// TestMigrate_ReleaseFile migrates the release's schema-1 file with the
// command: every report is the same before and after, and from the copy the
// migration made; the sessions are all unclassified; a second run migrates
// nothing.
func TestMigrate_ReleaseFile(t *testing.T) {
	bin := headcountBinFast(t)
	db := copyReleaseDB(t)
	mustExportAsReleased(t, bin, db, "schema 1, read as it is", "include")
	mustExportAsReleased(t, bin, db, "schema 1", "exclude") // nothing is a bot

	code, out, errOut := runBinary(t, "migrate", "--db", db)
	backup := db + ".schema-1.backup"
	want := db + ": migrated from schema 1 to 2 (420 days, 2279 windows rewritten); the file as it was is " + backup + "\n" +
		db + ": 420 days, 81311 sessions, 1141 coverage intervals; ok\n"
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("migrate: status %d, stdout %q, stderr %q; want 0, %q", code, out, errOut, want)
	}
	mustExportAsReleased(t, bin, db, "migrated", "include")
	mustExportAsReleased(t, bin, db, "migrated", "exclude")
	mustExportAsReleased(t, bin, backup, "the copy", "include")

	code, out, _ = runBinary(t, "export", "--db", db, "--format", "json", "2025-08-01", "2026-11-01")
	var report struct {
		Bots         string `json:"bots"`
		Total        uint64 `json:"total_sessions"`
		Human        uint64 `json:"total_human_sessions"`
		BotSessions  uint64 `json:"total_bot_sessions"`
		Unclassified uint64 `json:"total_unclassified_sessions"`
	}
	if err := json.Unmarshal([]byte(out), &report); code != 0 || err != nil {
		t.Fatalf("export --format json: status %d, %v", code, err)
	}
	if report.Bots != "include" || report.Total != 81311 || report.Unclassified != 81311 || report.Human != 0 || report.BotSessions != 0 {
		t.Errorf("migrated totals %+v, want 81311 sessions, all unclassified", report)
	}

	code, out, _ = runBinary(t, "migrate", "--db", db)
	if want := db + ": schema 2 already; nothing to migrate\n"; code != 0 || out != want {
		t.Errorf("second migrate: status %d, %q; want 0, %q", code, out, want)
	}
	code, _, errOut = runBinary(t, "migrate", "--db", filepath.Join(t.TempDir(), "none.db"))
	if code != 2 || !strings.Contains(errOut, "database file does not exist") {
		t.Errorf("migrate of a missing file: status %d, %q", code, errOut)
	}
}

// TestMigrate_AtServeStart starts the agent on the release's schema-1 file:
// it migrates it, logs what it did, and the reports are the release's.
func TestMigrate_AtServeStart(t *testing.T) {
	db := copyReleaseDB(t)
	a := startServe(t, processEnv(), "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", "", "--environment", "prod-eu")
	var migrated map[string]any
	for _, r := range a.waitMetering(t) {
		if strings.HasPrefix(fmt.Sprint(r["message"]), "migrated the database") {
			migrated = r
		}
	}
	want := map[string]any{"from": 1.0, "to": 2.0, "days": 420.0, "windows": 2279.0, "backup": db + ".schema-1.backup"}
	for k, v := range want {
		if migrated[k] != v {
			t.Errorf("migration log line %v: %s = %v, want %v", migrated, k, migrated[k], v)
		}
	}
	if code := a.stop(t); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}
	mustExportAsReleased(t, headcountBinFast(t), db, "migrated by serve", "include")
}

// TestMigrate_KilledAnywhere kills `headcount migrate` (kill -9, injected by
// strace) at each fsync and fdatasync it makes (those of the copy, then the
// commit's), at many of its page writes, and as it exits: whatever the point,
// the file reads as the release's (old or migrated), and migrate then
// finishes the job. strace counts calls per thread, so a count that a thread
// never reaches lets migrate finish, which ends that scan.
func TestMigrate_KilledAnywhere(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is needed (installed by .ci/run): %v", err)
	}
	bin := headcountBinFast(t)
	killedAt := map[uint64]int{} // schema found after a kill → runs
	for _, call := range []string{"fsync", "fdatasync", "pwrite64", "exit_group"} {
		for n := 1; ; n++ {
			if n > 200 {
				t.Fatalf("%s: migrate was still killed at call %d", call, n)
			}
			if call == "pwrite64" && n > 3 && n%8 != 0 {
				continue // every eighth write: the commit writes about 50
			}
			db := copyReleaseDB(t)
			cmd := exec.Command(strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace="+call,
				"-e", fmt.Sprintf("inject=%s:signal=SIGKILL:when=%d", call, n), bin, "migrate", "--db", db)
			cmd.Env = processEnv("GOMAXPROCS=1")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if err == nil || call == "exit_group" && n > 1 {
				if n == 1 {
					t.Fatalf("%s: migrate was never killed: the test proves nothing", call)
				}
				mustExportAsReleased(t, bin, db, fmt.Sprintf("migrated under strace (%s)", call), "include", "csv-day.csv")
				break
			}
			if !errors.As(err, &exit) || !killed(exit) {
				t.Fatalf("%s %d: %v: %s", call, n, err, out)
			}
			schema := schemaOf(t, db)
			killedAt[schema]++
			what := fmt.Sprintf("killed at %s %d (schema %d)", call, n, schema)
			if code, out, errOut := runBinaryAt(t, bin, "check", "--db", db); code != 0 {
				t.Errorf("%s: check: status %d\n%s%s", what, code, out, errOut)
			}
			// Every day's number is in the CSV by day.
			mustExportAsReleased(t, bin, db, what, "include", "csv-day.csv")
			if code, _, errOut := runBinaryAt(t, bin, "migrate", "--db", db); code != 0 {
				t.Fatalf("%s: migrate after the kill: status %d, %s", what, code, errOut)
			}
			mustExportAsReleased(t, bin, db, what+", then migrated", "include", "csv-day.csv")
		}
	}
	t.Logf("kills that left schema 1: %d, schema 2: %d", killedAt[1], killedAt[2])
	if killedAt[1] == 0 || killedAt[2] == 0 {
		t.Errorf("kills left schema 1 in %d runs and schema 2 in %d: both must occur for the test to cover the commit", killedAt[1], killedAt[2])
	}
}

// killed reports whether strace ended as its tracee did, killed by SIGKILL
// (strace kills itself with the tracee's signal).
func killed(exit *exec.ExitError) bool {
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && (ws.Signaled() && ws.Signal() == syscall.SIGKILL || ws.ExitStatus() == 128+int(syscall.SIGKILL))
}

// schemaOf returns the schema a database file holds, read with bbolt through
// store's read-only Open (which migrates nothing).
func schemaOf(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer db.Close()
	return db.Schema()
}

// TestMigrate_Held: a file another process holds (the agent, or a reader
// such as export) is not migrated, and the error says what to do.
func TestMigrate_Held(t *testing.T) {
	db := copyReleaseDB(t)
	holder, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	code, out, errOut := runBinary(t, "migrate", "--db", db)
	want := "headcount: " + db + ": database is in use by another process: stop the agent first (a running agent migrated the file at its start already), or wait for the export, check or backup that reads it\n"
	if code != 2 || out != "" || errOut != want { // 2, as for every command given a file it cannot use
		t.Errorf("migrate of a held file: status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
	}
	if holder.Schema() != 1 {
		t.Errorf("the held file was migrated to schema %d", holder.Schema())
	}
}
