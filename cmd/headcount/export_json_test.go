package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExport_JSONUnknownDays runs the real binary on imported history with a
// gap: in JSON, the imported days say so and their covered hours and live
// sessions are null (not 24 and 0), and the day in the gap has null
// sessions (not 0). Through a running agent the export is the same.
func TestExport_JSONUnknownDays(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "history.csv")
	writeTestFile(t, hist, "date,sessions\n2024-03-01,120\n2024-03-03,0\n")
	db := filepath.Join(dir, "headcount.db")
	if code, _, errOut := runBinary(t, "import", "--create", "--db", db, hist); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	code, out, errOut := runBinary(t, "export", "--db", db, "--format", "json", "--by", "day", "2024-03-01", "2024-03-04")
	if code != 0 || errOut != "" {
		t.Fatalf("export: status %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		`{"date":"2024-03-01","sessions":120,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":120,"covered":true,"imported":true,"covered_hours":null,"peak_live":null,"average_live":null,"hours":[]}`,
		`{"date":"2024-03-02","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered":false,"imported":false,"covered_hours":0,"peak_live":null,"average_live":null,"hours":[]}`,
		`{"date":"2024-03-03","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":true,"covered_hours":null,"peak_live":null,"average_live":null,"hours":[]}`,
	} {
		if !strings.Contains(out, "\n    "+want) {
			t.Errorf("export --format json lacks the day\n%s\nin:\n%s", want, out)
		}
	}

	a := startServe(t, processEnv(), "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	records := a.waitMetering(t)
	addr, _ := records[len(records)-1]["admin_addr"].(string)
	if addr == "" {
		t.Fatal("the agent logged no admin address")
	}
	code, served, errOut := runBinary(t, "export", "--db", db, "--admin-addr", addr, "--format", "json", "--by", "day", "2024-03-01", "2024-03-04")
	if code != 0 || served != out {
		t.Errorf("through the agent: status %d, stderr %q:\n%s\nwant what the file gave:\n%s", code, errOut, served, out)
	}
	if st := a.stop(t); st != 0 {
		t.Errorf("the agent exited with status %d", st)
	}
}
