package export

import (
	"fmt"
	"math/rand"
	"strconv"
	"testing"
	"time"

	"headcount/report"
	"headcount/report/accounts"
	"headcount/store"
)

// randomHistory is a database's snapshot over [from, from+days): random
// coverage intervals, sessions only on covered days (as an agent counts
// them), some of them bots.
func randomHistory(rng *rand.Rand, from time.Time, days int) store.Snapshot {
	var s store.Snapshot
	covered := map[int]bool{}
	for i := rng.Intn(4); i > 0; i-- {
		start := rng.Intn(days)
		length := 1 + rng.Intn(days-start)
		begin := from.AddDate(0, 0, start).Add(time.Duration(rng.Intn(24)) * time.Hour)
		// An interval ending at midnight does not touch the day it ends on:
		// the last day's end is within it.
		end := from.AddDate(0, 0, start+length-1).Add(time.Duration(1+rng.Intn(23)) * time.Hour)
		if end.Before(begin) {
			end = begin
		}
		s.Coverage = append(s.Coverage, store.Interval{Start: begin, End: end})
		for d := start; d < start+length; d++ {
			covered[d] = true
		}
	}
	for d := range covered {
		if n := uint64(rng.Intn(50)); n > 0 {
			bots := uint64(rng.Intn(int(n) + 1))
			s.Days = append(s.Days, store.DayCount{Day: from.AddDate(0, 0, d), Sessions: n, Bots: bots})
		}
	}
	return s
}

// TestAccounts_Property: for random trees and histories, every account's
// subtree_sessions is its own sessions plus every descendant's, in every
// month and scope; the roots' subtree totals add up to the sum of every
// database's own report total; and the statuses follow their definitions.
func TestAccounts_Property(t *testing.T) {
	from := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		days := 30 + rng.Intn(150)
		to := from.AddDate(0, 0, days)
		now := from.AddDate(0, 0, rng.Intn(days+40)) // sometimes within the range: later days are no gaps
		n := 1 + rng.Intn(12)
		f := &accounts.File{}
		histories := map[string]store.Snapshot{}
		for i := 0; i < n; i++ {
			a := accounts.Account{ID: "a" + strconv.Itoa(i)}
			a.Name = a.ID
			if i > 0 && rng.Intn(5) > 0 {
				a.Parent = "a" + strconv.Itoa(rng.Intn(i))
			}
			for j := rng.Intn(3); j > 0; j-- {
				path := fmt.Sprintf("%s-%d.db", a.ID, j)
				a.DBs = append(a.DBs, accounts.DB{Path: path})
				histories[path] = randomHistory(rng, from.AddDate(0, 0, -20), days+20)
			}
			f.Accounts = append(f.Accounts, a)
		}
		read := func(_ accounts.Account, d accounts.DB, _ time.Time) (store.Snapshot, error) {
			return histories[d.Path], nil
		}
		in, err := Accounts(f, read, from, to, now)
		if err != nil {
			t.Fatal(err)
		}
		in.Bots = report.BotMode(rng.Intn(2))
		r, err := report.BuildAccounts(in)
		if err != nil {
			t.Fatal(err)
		}

		// The sum of every database's own report, month by month.
		perMonth := map[string]uint64{}
		for _, h := range histories {
			single := Input(h, from, to, report.Month, "", now)
			single.Bots = in.Bots
			for _, p := range report.Build(single).Periods {
				perMonth[p.Label] += p.Sessions
			}
		}
		parent := map[string]string{}
		for _, a := range f.Accounts {
			parent[a.ID] = a.Parent
		}
		isBelow := func(id, ancestor string) bool {
			for p := parent[id]; p != ""; p = parent[p] {
				if p == ancestor {
					return true
				}
			}
			return false
		}
		for _, m := range r.Months {
			if len(m.Rows) != n {
				t.Fatalf("seed %d %s: %d rows, want every one of the %d accounts", seed, m.Label, len(m.Rows), n)
			}
			var roots uint64
			for _, row := range m.Rows {
				want := row.Sessions
				for _, other := range m.Rows {
					if isBelow(other.ID, row.ID) {
						want += other.Sessions
					}
				}
				if row.Subtree != want {
					t.Errorf("seed %d %s %s: subtree %d, want own %d + descendants = %d", seed, m.Label, row.ID, row.Subtree, row.Sessions, want)
				}
				if row.Grouping != (row.Status == report.StatusNone) || row.Grouping && row.Covered {
					t.Errorf("seed %d %s %s: grouping %v, status %s, covered %v", seed, m.Label, row.ID, row.Grouping, row.Status, row.Covered)
				}
				if row.Status == report.StatusOK && len(row.Gaps) > 0 || row.Status == report.StatusNotAvailable && len(row.Gaps) == 0 {
					t.Errorf("seed %d %s %s: status %s with gaps %v", seed, m.Label, row.ID, row.Status, row.Gaps)
				}
				if row.ParentID == "" {
					roots += row.Subtree
				}
			}
			if roots != perMonth[m.Label] {
				t.Errorf("seed %d %s: the roots' subtrees add to %d, the databases' reports to %d", seed, m.Label, roots, perMonth[m.Label])
			}
		}
		if len(r.Months) == 0 && now.After(from) {
			t.Errorf("seed %d: no month reported", seed)
		}

		// A scope lists a part of the same rows, with the same figures.
		start := f.Accounts[rng.Intn(n)].ID
		in.Account, in.Scope = start, report.Scope(rng.Intn(3))
		scoped, err := report.BuildAccounts(in)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range scoped.Months {
			full := map[string]report.AccountRow{}
			for _, row := range r.Months[i].Rows {
				full[row.ID] = row
			}
			for _, row := range m.Rows {
				inScope := row.ID == start || in.Scope == report.ScopeChildren && row.ParentID == start || in.Scope == report.ScopeTree && isBelow(row.ID, start)
				f := full[row.ID]
				if !inScope || f.Subtree != row.Subtree || f.Sessions != row.Sessions || f.Status != row.Status {
					t.Errorf("seed %d scope %s of %s, %s: row %+v in scope %v, the full report's %+v", seed, in.Scope, start, m.Label, row, inScope, f)
				}
			}
		}
	}
}
