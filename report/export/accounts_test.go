package export

import (
	"bytes"
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"headcount/report"
	"headcount/report/accounts"
	"headcount/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/accounts")

// historySnapshot reads a history CSV (`date,sessions`, as headcount import
// takes it) as the snapshot of the database it imports into: each listed day
// covered whole, its sessions unclassified.
func historySnapshot(t *testing.T, path string) store.Snapshot {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var s store.Snapshot
	for _, row := range rows[1:] {
		day, err := time.Parse(time.DateOnly, row[0])
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseUint(row[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		s.Days = append(s.Days, store.DayCount{Day: day, Sessions: n, Unclassified: n})
		s.Coverage = append(s.Coverage, store.Interval{Start: day, End: day.AddDate(0, 0, 1)})
	}
	return s
}

// goldenTree returns the accounts input of testdata/accounts/accounts.yaml,
// each database X.db read from the history X.csv, for the range and today
// of the golden files.
func goldenTree(t *testing.T) (report.AccountsInput, *accounts.File) {
	t.Helper()
	f, err := accounts.Load("testdata/accounts/accounts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	read := func(_ accounts.Account, d accounts.DB, _ time.Time) (store.Snapshot, error) {
		return historySnapshot(t, strings.TrimSuffix(d.Path, ".db")+".csv"), nil
	}
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	today := time.Date(2026, 5, 10, 15, 4, 5, 0, time.UTC)
	in, err := Accounts(f, read, from, to, today)
	if err != nil {
		t.Fatal(err)
	}
	return in, f
}

func mustGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "accounts", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s\nwant:\n%s", name, got, want)
	}
}

// TestAccounts_Golden: the three-level tree in every form. acme-prod is an
// HA pair whose holes do not overlap: no gap, ok every month; acme-uat has a
// hole (not_available in March); globex starts on 15 February
// (not_existent in January and February); acme and emea are grouping
// nodes (none); today is 10 May: May ends at today, and with
// --completed-months it is left out, never a gap.
func TestAccounts_Golden(t *testing.T) {
	base, _ := goldenTree(t)
	for _, tc := range []struct {
		name      string
		format    report.Format
		account   string
		scope     report.Scope
		completed bool
	}{
		{"tree.csv", report.CSV, "", report.ScopeTree, false},
		{"tree-completed.csv", report.CSV, "", report.ScopeTree, true},
		{"tree.txt", report.Pretty, "", report.ScopeTree, false},
		{"tree.json", report.JSON, "", report.ScopeTree, true},
		{"tree.html", report.HTML, "", report.ScopeTree, true},
		{"acme-children.csv", report.CSV, "acme", report.ScopeChildren, true},
		{"emea-self.csv", report.CSV, "emea", report.ScopeSelf, true},
		{"emea-tree.txt", report.Pretty, "emea", report.ScopeTree, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.Account, in.Scope, in.CompletedMonths = tc.account, tc.scope, tc.completed
			r, err := report.BuildAccounts(in)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := report.WriteAccounts(&b, r, tc.format); err != nil {
				t.Fatal(err)
			}
			mustGolden(t, tc.name, b.Bytes())
		})
	}
}

// TestAccounts_SameAsOneDatabase: an account's own cells are those of the
// single-database report of its databases merged: its sessions and gaps
// per month, by the same rules (bots left out alike).
func TestAccounts_SameAsOneDatabase(t *testing.T) {
	in, f := goldenTree(t)
	in.Bots = report.ExcludeBots
	r, err := report.BuildAccounts(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range f.Accounts {
		if len(a.DBs) == 0 {
			continue
		}
		var snaps []store.Snapshot
		for _, d := range a.DBs {
			snaps = append(snaps, historySnapshot(t, strings.TrimSuffix(d.Path, ".db")+".csv"))
		}
		si := Input(Merge(snaps...), in.From, in.To, report.Month, "", in.Today)
		si.Bots = report.ExcludeBots
		single := report.Build(si)
		var b bytes.Buffer
		if err := report.WriteCSV(&b, single); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")[1:]
		for m, month := range r.Months {
			for _, row := range month.Rows {
				if row.ID != a.ID {
					continue
				}
				cells := strings.Split(lines[m], ",")
				var sessions string
				if row.Covered {
					sessions = strconv.FormatUint(row.Sessions, 10)
				}
				var gaps []string
				for _, g := range row.Gaps {
					gaps = append(gaps, g.Start.Format(time.DateOnly)+"_"+g.End.Format(time.DateOnly))
				}
				if cells[0] != month.Label || cells[1] != sessions || cells[2] != strings.Join(gaps, ";") {
					t.Errorf("%s %s: sessions %q gaps %v; the single report says %q", a.ID, month.Label, sessions, gaps, lines[m])
				}
			}
		}
	}
}
