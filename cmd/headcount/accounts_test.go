package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"headcount/agent/admin"
	"headcount/store"
)

const accountsGolden = "../../report/export/testdata/accounts/"

// accountsTree imports the golden tree's histories into databases next to a
// copy of its accounts file, and returns the file's path.
func accountsTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, env := range map[string]string{"prod-a": "PROD", "prod-b": "PROD", "uat": "UAT", "globex": "GLOBEX"} {
		db := filepath.Join(dir, name+".db")
		if code, _, errOut := runCLI(t, "import", "--create", "--db", db, "--environment", env, accountsGolden+name+".csv"); code != 0 {
			t.Fatalf("import %s: status %d: %s", name, code, errOut)
		}
	}
	data, err := os.ReadFile(accountsGolden + "accounts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "accounts.yaml")
	writeTestFile(t, path, string(data))
	return path
}

// TestExport_AccountsRealBinary: the real binary reads the golden tree's
// databases, imported, through the accounts file, and prints the golden
// CSV of its completed months (January to April 2026); months after the
// data are not_available, and --completed-months leaves out the month of
// today by the command's clock, which it never calls a gap.
func TestExport_AccountsRealBinary(t *testing.T) {
	file := accountsTree(t)
	want, err := os.ReadFile(accountsGolden + "tree-completed.csv")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runBinary(t, "export", "--accounts", file, "2026-01-01", "2026-05-01")
	if code != 0 || errOut != "" || out != string(want) {
		t.Errorf("status %d, stderr %q, output:\n%s\nwant:\n%s", code, errOut, out, want)
	}
	code, out, errOut = runBinary(t, "export", "--accounts", file, "--account", "emea", "--scope", "self", "--format", "pretty", "2026-03-01", "2026-04-01")
	rule := strings.Repeat("#", 60)
	wantPretty := rule + "\nSession usage by account from 2026-03-01 to 2026-04-01 (TO excluded)\nScope: self of account emea; bots included\nAll dates are in the format YYYY-MM-DD\n" + rule +
		"\nMonth 2026-03\n  emea (EMEA customers): own -, subtree 155, none\n" + rule + "\n"
	if code != 0 || errOut != "" || out != wantPretty {
		t.Errorf("pretty, emea self: status %d, stderr %q, output:\n%s\nwant:\n%s", code, errOut, out, wantPretty)
	}

	for attempt := 0; ; attempt++ {
		today := time.Now().UTC()
		month := today.Format("2006-01")
		to := today.AddDate(1, 0, 0).Format(time.DateOnly)
		_, all, _ := runBinary(t, "export", "--accounts", file, "2026-04-01", to)
		code, completed, errOut := runBinary(t, "export", "--accounts", file, "--completed-months", "2026-04-01", to)
		if time.Now().UTC().Format("2006-01") != month && attempt == 0 {
			continue // the month changed while the commands ran
		}
		if code != 0 || errOut != "" {
			t.Fatalf("--completed-months: status %d, stderr %q", code, errOut)
		}
		wantLast := month + ",globex,Globex,emea,EMEA customers,,," + month + "-01_"
		lines := strings.Split(strings.TrimSpace(all), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, wantLast) || !strings.HasSuffix(last, ",not_available") {
			t.Errorf("without --completed-months the last row is %q, want this month's, %q…,not_available", last, wantLast)
		}
		if strings.Contains(completed, "\n"+month+",") || !strings.HasPrefix(all, completed) || !strings.Contains(completed, "\n2026-04,acme,") {
			t.Errorf("--completed-months:\n%s\nwant the rows of the report without it up to last month:\n%s", completed, all)
		}
		break
	}
}

// TestExport_AccountsHeldDatabase: a database that its running agent holds
// is read through that agent's admin endpoint, the one its entry in the
// accounts file names, as export reads one database.
func TestExport_AccountsHeldDatabase(t *testing.T) {
	file := accountsTree(t)
	uat := filepath.Join(filepath.Dir(file), "uat.db")
	held, err := store.Open(uat, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	id, err := store.FileID(uat)
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from, _ := time.Parse(time.DateOnly, r.URL.Query().Get("from"))
		to, _ := time.Parse(time.DateOnly, r.URL.Query().Get("to"))
		snap, err := held.Snapshot(from, to, store.Parts{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		asked++
		json.NewEncoder(w).Encode(admin.SnapshotResponse{DB: id, Schema: store.SchemaVersion, Snapshot: snap})
	}))
	t.Cleanup(srv.Close)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	writeTestFile(t, file, strings.Replace(string(data), "db: uat.db", "db: {path: uat.db, admin-addr: "+addr+"}", 1))
	want, err := os.ReadFile(accountsGolden + "tree-completed.csv")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "export", "--accounts", file, "2026-01-01", "2026-05-01")
	if code != 0 || errOut != "" || out != string(want) || asked != 1 {
		t.Errorf("status %d, stderr %q, agent asked %d times, output:\n%s\nwant:\n%s", code, errOut, asked, out, want)
	}
	// Without the entry's admin-addr, export's --admin-addr is asked.
	writeTestFile(t, file, string(data))
	code, out, errOut = runCLI(t, "export", "--accounts", file, "--admin-addr", addr, "2026-01-01", "2026-05-01")
	if code != 0 || errOut != "" || out != string(want) || asked != 2 {
		t.Errorf("--admin-addr: status %d, stderr %q, agent asked %d times, output:\n%s", code, errOut, asked, out)
	}
}

// TestExport_SeveralDB: several --db are one account: the seed's CSV of
// their sum, the coverage united (the HA pair's holes do not overlap: no
// gap); --by-environment gives a block per stored environment, then TOTAL.
func TestExport_SeveralDB(t *testing.T) {
	dir := filepath.Dir(accountsTree(t))
	db := func(name string) string { return filepath.Join(dir, name+".db") }
	code, out, errOut := runBinary(t, "export", "--db", db("prod-a"), "--db", db("prod-b"), "2026-01-01", "2026-05-01")
	want := "month,sessions,gaps,environment\n2026-01,310,,PROD\n2026-02,258,,PROD\n2026-03,310,,PROD\n2026-04,300,,PROD\n"
	if code != 0 || errOut != "" || out != want {
		t.Errorf("HA pair: status %d, stderr %q, output:\n%s\nwant:\n%s", code, errOut, out, want)
	}
	code, out, errOut = runCLI(t, "export", "--db", db("prod-a"), "2026-02-01", "2026-03-01")
	if want := "month,sessions,gaps,environment\n2026-02,230,2026-02-09_2026-02-15,PROD\n"; code != 0 || out != want {
		t.Errorf("prod-a alone: status %d, stderr %q, output %q, want %q", code, errOut, out, want)
	}

	code, out, errOut = runCLI(t, "export", "--by-environment", "--db", db("prod-a"), "--db", db("uat"), "--db", db("prod-b"), "2026-02-01", "2026-04-01")
	want = "month,sessions,gaps,environment\n" +
		"2026-02,258,,PROD\n2026-03,310,,PROD\n" +
		"2026-02,56,,UAT\n2026-03,52,2026-03-09_2026-03-15,UAT\n" +
		"2026-02,314,,TOTAL\n2026-03,362,,TOTAL\n"
	if code != 0 || errOut != "" || out != want {
		t.Errorf("--by-environment: status %d, stderr %q, output:\n%s\nwant:\n%s", code, errOut, out, want)
	}
	// The summary of several databases is that of their merged hours: a
	// row per period as for one database.
	_, single, _ := runCLI(t, "export", "--db", db("prod-a"), "--format", "summary", "2026-02-01", "2026-04-01")
	code, out, errOut = runCLI(t, "export", "--db", db("prod-a"), "--db", db("prod-b"), "--format", "summary", "2026-02-01", "2026-04-01")
	if code != 0 || errOut != "" || strings.Count(out, "\n") != 3 || strings.Count(single, "\n") != 3 || strings.Split(out, "\n")[0] != strings.Split(single, "\n")[0] {
		t.Errorf("--format summary of two databases: status %d, stderr %q, output:\n%s\nwant the rows of one database's:\n%s", code, errOut, out, single)
	}
	code, out, errOut = runCLI(t, "export", "--db", db("prod-a"), "--db", db("uat"), "2026-03-01", "2026-04-01")
	if want := "month,sessions,gaps,environment\n2026-03,362,,PROD+UAT\n"; code != 0 || out != want {
		t.Errorf("two environments merged: status %d, stderr %q, output %q, want %q", code, errOut, out, want)
	}
}

// TestExport_AccountsBadInput: every refusal of an accounts export is one
// line naming what is wrong and what to do, exit status 2, nothing written.
func TestExport_AccountsBadInput(t *testing.T) {
	file := accountsTree(t)
	dir := filepath.Dir(file)
	bad := func(name, text string) string {
		p := filepath.Join(dir, name)
		writeTestFile(t, p, text)
		return p
	}
	missing := bad("missing.yaml", "accounts:\n  - id: a\n    db: [prod-a.db, nope.db]\n")
	foreign := bad("foreign.yaml", "accounts:\n  - id: a\n  - id: b\n    parent: a\n    db: accounts.yaml\n")
	cycle := bad("cycle.yaml", "accounts:\n  - id: a\n    parent: b\n  - id: b\n    parent: a\n")
	db := filepath.Join(dir, "uat.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no accounts file", []string{"--accounts", filepath.Join(dir, "none.yaml")}, filepath.Join(dir, "none.yaml") + ": no such accounts file; check the path"},
		{"missing database", []string{"--accounts", missing}, missing + ":3: account \"a\": " + filepath.Join(dir, "nope.db") + ": database file does not exist; fix its path in the accounts file (a relative path is taken from the file's directory)"},
		{"not a database", []string{"--accounts", foreign}, foreign + ":5: account \"b\": " + filepath.Join(dir, "accounts.yaml") + ": not a headcount database: bbolt: invalid database; list only the databases that headcount serve writes"},
		{"cycle", []string{"--accounts", cycle}, cycle + ":2: account \"a\" is its own ancestor: a → b → a; give one of them another parent, or none"},
		{"unknown account", []string{"--accounts", file, "--account", "acne"}, "--account \"acne\" is not in " + file + "; its accounts are acme, acme-prod, acme-uat, emea, globex"},
		{"bad scope", []string{"--accounts", file, "--scope", "all"}, "--scope \"all\": want self (the account only), children (it and its direct children) or tree (it and every account below it)"},
		{"accounts and db", []string{"--accounts", file, "--db", db}, "--accounts names the databases: drop --db, or drop --accounts to report on --db alone"},
		{"accounts by week", []string{"--accounts", file, "--by", "week"}, "an accounts report (--accounts) is by month: drop --by week"},
		{"accounts and environment", []string{"--accounts", file, "--environment", "X"}, "--environment does not apply to an accounts report (--accounts); drop it"},
		{"accounts and bot column", []string{"--accounts", file, "--bot-column"}, "--bot-column does not apply to an accounts report (--accounts); drop it"},
		{"accounts and summary", []string{"--accounts", file, "--summary"}, "--summary does not apply to an accounts report (--accounts); drop it"},
		{"accounts and format summary", []string{"--accounts", file, "--format", "summary"}, "--format summary does not apply to an accounts report (--accounts): give csv, pretty, json or html"},
		{"by environment and summary", []string{"--db", db, "--db", filepath.Join(dir, "globex.db"), "--by-environment", "--format", "summary"}, "--by-environment does not apply to the summary: it sums the databases' live sessions; leave it out"},
		{"scope without accounts", []string{"--db", db, "--scope", "self"}, "--scope applies to an accounts report: add --accounts FILE"},
		{"completed months without accounts", []string{"--db", db, "--completed-months"}, "--completed-months applies to an accounts report: add --accounts FILE"},
		{"by environment with one db", []string{"--db", db, "--by-environment"}, "--by-environment splits several databases: give --db once for each"},
		{"by environment as json", []string{"--db", db, "--db", filepath.Join(dir, "globex.db"), "--by-environment", "--format", "json"}, "--by-environment prints CSV or pretty; for JSON or HTML export each environment's --db on its own"},
		{"by environment with environment", []string{"--db", db, "--db", filepath.Join(dir, "globex.db"), "--by-environment", "--environment", "X"}, "--by-environment names each block by its stored environment: drop --environment"},
		{"several db and a licence", []string{"--db", db, "--db", filepath.Join(dir, "globex.db"), "--license", "x.lic"}, "--license reads the consumption of one database; give one --db"},
		{"several db, one missing", []string{"--db", db, "--db", filepath.Join(dir, "nope.db")}, filepath.Join(dir, "nope.db") + ": database file does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) { exportRefused(t, dir, tc.args, tc.want) })
	}
}

// exportRefused runs export with args over 2026-01-01..2026-05-01 into a
// file in dir, and fails unless it exits 2 with the one line want on
// stderr and writes nothing.
func exportRefused(t *testing.T, dir string, args []string, want string) {
	t.Helper()
	out := filepath.Join(dir, "out.csv")
	code, stdout, errOut := runCLI(t, append(append([]string{"export", "--output", out}, args...), "2026-01-01", "2026-05-01")...)
	if code != 2 || stdout != "" || errOut != "headcount: "+want+"\n" {
		t.Errorf("status %d, stdout %q, stderr\n%s\nwant status 2 and\nheadcount: %s", code, stdout, errOut, want)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s was written", out)
	}
}

// TestExport_SeveralDBSameFile: several --db naming one database file, by
// the same path, another path or a symbolic link, are refused (status 2,
// nothing written): merged, its sessions would be counted twice.
func TestExport_SeveralDBSameFile(t *testing.T) {
	dir := filepath.Dir(accountsTree(t))
	uat := filepath.Join(dir, "uat.db")
	link := filepath.Join(dir, "uat-link.db")
	if err := os.Symlink(uat, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := dir + "/sub/../uat.db"
	globex := filepath.Join(dir, "globex.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"same path", []string{"--db", uat, "--db", globex, "--db", uat}, "--db " + uat + " is given twice: its sessions would be counted twice; give each database once"},
		{"another path", []string{"--db", uat, "--db", other}, "--db " + other + " is the same file as --db " + uat + ": its sessions would be counted twice; give each database once"},
		{"a link", []string{"--db", link, "--db", uat, "--by-environment"}, "--db " + uat + " is the same file as --db " + link + ": its sessions would be counted twice; give each database once"},
	} {
		t.Run(tc.name, func(t *testing.T) { exportRefused(t, dir, tc.args, tc.want) })
	}
}
