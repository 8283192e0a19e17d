package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"headcount/agent/admin"
	"headcount/store"
)

// botsAgent stands for a running agent whose database holds sessions of
// every class: it holds the file's lock, as the agent does, and answers
// /snapshot with the days of report/bots_test.go's mixDays (2026-03-02: 10
// human, 3 bot, 2 unclassified sessions; …) metered from 2026-03-01 to
// 2026-04-10, in the agent's wire format. export reads it as it reads a
// running agent, so the report goldens of testdata/bots are its output.
// It returns the database's path and the admin address.
func botsAgent(t *testing.T) (db, addr string) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "headcount.db")
	held, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	id, err := store.FileID(db)
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	snap := store.Snapshot{Environment: "PROD", Days: []store.DayCount{
		{Day: day("2026-03-02"), Sessions: 15, Bots: 3, Unclassified: 2},
		{Day: day("2026-03-10"), Sessions: 7, Bots: 7},
		{Day: day("2026-04-05"), Sessions: 4, Unclassified: 4},
		{Day: day("2026-04-06"), Sessions: 20, Bots: 1},
		{Day: day("2026-04-20"), Sessions: 5, Bots: 5},
	}}
	for d := day("2026-03-01"); !d.After(day("2026-04-10")); d = d.AddDate(0, 0, 1) {
		snap.Coverage = append(snap.Coverage, store.Interval{Start: d, End: d.AddDate(0, 0, 1)})
	}
	body, err := json.Marshal(admin.SnapshotResponse{DB: id, Schema: store.SchemaVersion, Snapshot: snap})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/snapshot" || r.URL.Query().Get("from") != "2026-03-01" || r.URL.Query().Get("to") != "2026-05-01" {
			http.Error(w, "want /snapshot of 2026-03-01 to 2026-05-01", http.StatusBadRequest)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return db, strings.TrimPrefix(srv.URL, "http://")
}

// runBinaryEnv runs the headcount binary with args and the extra
// environment variables env, and returns its exit status, stdout and stderr.
func runBinaryEnv(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(headcountBin(t), args...)
	cmd.Env = processEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestExport_Bots runs the real binary against an agent holding sessions of
// every class: --bots, --bot-column, their environment variables and
// --config keys, flags after the dates; each output is the report
// package's golden for the same days (testdata/bots), so the exclude
// arithmetic (sessions = human + unclassified) holds from the wire to the
// printed report, and without the flags CSV and pretty are the seed's layout.
func TestExport_Bots(t *testing.T) {
	db, addr := botsAgent(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "export.yaml")
	writeTestFile(t, config, "bots: exclude\nbot-column: true\n")
	base := []string{"export", "--db", db, "--admin-addr", addr}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		golden string
	}{
		{"default CSV", nil, nil, "include.csv"},
		{"default pretty", nil, []string{"--pretty"}, "include.txt"},
		{"default JSON", nil, []string{"--format", "json"}, "include.json"},
		{"default HTML", nil, []string{"--format", "html"}, "include.html"},
		{"--bots include", nil, []string{"--bots", "include"}, "include.csv"},
		{"--bots exclude", nil, []string{"--bots", "exclude"}, "exclude.csv"},
		{"--bots exclude pretty", nil, []string{"--bots", "exclude", "--pretty"}, "exclude.txt"},
		{"--bots exclude JSON", nil, []string{"--bots", "exclude", "--format", "json"}, "exclude.json"},
		{"--bots exclude HTML", nil, []string{"--bots", "exclude", "--format", "html"}, "exclude.html"},
		{"--bot-column", nil, []string{"--bot-column"}, "include-column.csv"},
		{"--bot-column pretty", nil, []string{"--bot-column", "--format", "pretty"}, "include-column.txt"},
		{"--bot-column and exclude", nil, []string{"--bot-column", "--bots", "exclude"}, "exclude-column.csv"},
		{"--bot-column and exclude pretty", nil, []string{"--bots=exclude", "--bot-column", "--pretty"}, "exclude-column.txt"},
		{"by day", nil, []string{"--by", "day", "--bots", "exclude", "--bot-column"}, "day-exclude-column.csv"},
		{"by day pretty", nil, []string{"--by", "day", "--bots", "exclude", "--bot-column", "--pretty"}, "day-exclude-column.txt"},
		{"by day JSON", nil, []string{"--by", "day", "--bots", "exclude", "--format", "json"}, "day-exclude-column.json"},
		{"--bot-column leaves JSON alone", nil, []string{"--bot-column", "--format", "json"}, "include.json"},
		{"HEADCOUNT_BOTS", []string{"HEADCOUNT_BOTS=exclude"}, nil, "exclude.csv"},
		{"HEADCOUNT_BOT_COLUMN", []string{"HEADCOUNT_BOT_COLUMN=true"}, nil, "include-column.csv"},
		{"the flag wins over the environment", []string{"HEADCOUNT_BOTS=exclude"}, []string{"--bots", "include"}, "include.csv"},
		{"--config", nil, []string{"--config", config}, "exclude-column.csv"},
		{"the flag wins over --config", nil, []string{"--config", config, "--bots", "include"}, "include-column.csv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("../../report/testdata/bots", tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			args := append(append(append([]string{}, base...), tc.args...), "2026-03-01", "2026-05-01")
			code, out, errOut := runBinaryEnv(t, tc.env, args...)
			if code != 0 || errOut != "" || out != string(want) {
				t.Errorf("%v: status %d, stderr %q, output:\n%s\nwant %s:\n%s", args[5:], code, errOut, out, tc.golden, want)
			}
		})
	}
	// Flags after the dates, as the original script took them.
	code, out, _ := runBinary(t, "export", "--db", db, "--admin-addr", addr, "2026-03-01", "2026-05-01", "--bots", "exclude", "--bot-column")
	if want, _ := os.ReadFile("../../report/testdata/bots/exclude-column.csv"); code != 0 || out != string(want) {
		t.Errorf("flags after the dates: status %d, output:\n%s\nwant:\n%s", code, out, want)
	}
}

// TestExport_BotsBadInput: a --bots value that is neither include nor
// exclude, from the command line, the environment or --config, and a
// --bot-column that is no boolean, are bad input: one line that says what
// to write, status 2, nothing written.
func TestExport_BotsBadInput(t *testing.T) {
	db := seedDB(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "report.csv")
	config := filepath.Join(dir, "export.yaml")
	writeTestFile(t, config, "bots: none\n")
	badColumn := filepath.Join(dir, "column.yaml")
	writeTestFile(t, badColumn, "bot-column: maybe\n")
	const want = `headcount: --bots %q: want include (sessions count every session, the default) or exclude (sessions leave out those classified as bots; unclassified sessions stay in)` + "\n"
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"flag", nil, []string{"--bots", "all"}, fmt.Sprintf(want, "all")},
		{"flag after the dates", nil, []string{"--bots", "Exclude"}, fmt.Sprintf(want, "Exclude")},
		{"empty", nil, []string{"--bots="}, fmt.Sprintf(want, "")},
		{"environment", []string{"HEADCOUNT_BOTS=yes"}, nil, fmt.Sprintf(want, "yes")},
		{"config", nil, []string{"--config", config}, fmt.Sprintf(want, "none")},
		{"--bot-column=maybe", nil, []string{"--bot-column=maybe"}, `headcount: invalid value "maybe" for --bot-column: true or false` + "\n"},
		{"HEADCOUNT_BOT_COLUMN", []string{"HEADCOUNT_BOT_COLUMN=maybe"}, nil, `headcount: invalid value "maybe" for HEADCOUNT_BOT_COLUMN: true or false` + "\n"},
		{"bot-column in --config", nil, []string{"--config", badColumn}, "headcount: --config " + badColumn + `: invalid value "maybe" for bot-column: true or false` + "\n"},
		{"a typo", nil, []string{"--bot", "exclude"}, "headcount: unknown flag --bot; did you mean --bots?\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"export", "--db", db, "--output", out}, tc.args...)
			args = append(args, "2023-01-01", "2023-02-01")
			if tc.name == "flag after the dates" {
				args = append([]string{"export", "--db", db, "--output", out, "2023-01-01", "2023-02-01"}, tc.args...)
			}
			code, stdout, stderr := runBinaryEnv(t, tc.env, args...)
			if code != 2 || stdout != "" || stderr != tc.want {
				t.Errorf("status %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("bad input wrote %s (%v)", out, err)
			}
		})
	}
}

// TestExport_BotsFromTheFile: a stopped agent's file read directly gives
// the classes too, and whatever the file holds, --bots exclude counts
// human + unclassified: its totals add up with include's.
func TestExport_BotsFromTheFile(t *testing.T) {
	db := seedDB(t)
	type totals struct {
		Bots         string `json:"bots"`
		Sessions     uint64 `json:"total_sessions"`
		Human        uint64 `json:"total_human_sessions"`
		BotSessions  uint64 `json:"total_bot_sessions"`
		Unclassified uint64 `json:"total_unclassified_sessions"`
	}
	read := func(mode string) totals {
		code, out, errOut := runCLI(t, "export", "--db", db, "--format", "json", "--bots", mode, "2023-01-01", "2024-04-02")
		var got totals
		if err := json.Unmarshal([]byte(out), &got); code != 0 || errOut != "" || err != nil {
			t.Fatalf("--bots %s: status %d, stderr %q, %v", mode, code, errOut, err)
		}
		return got
	}
	include, exclude := read("include"), read("exclude")
	const seedTotal = 34739664
	if include.Bots != "include" || exclude.Bots != "exclude" || include.Sessions != seedTotal ||
		include.Human+include.BotSessions+include.Unclassified != seedTotal || exclude.Sessions != include.Human+include.Unclassified ||
		exclude.Human != include.Human || exclude.BotSessions != include.BotSessions || exclude.Unclassified != include.Unclassified {
		t.Errorf("include %+v, exclude %+v: want %d sessions in all and exclude's = human + unclassified", include, exclude, seedTotal)
	}
}
