package export

import (
	"time"

	"headcount/report"
	"headcount/report/accounts"
	"headcount/store"
)

// ReadFunc reads the database d of account a, from the epoch to the
// range's end: read-only from the file, or through the agent that holds it.
type ReadFunc func(a accounts.Account, d accounts.DB, to time.Time) (store.Snapshot, error)

// Accounts returns the input of the accounts report of f for the days
// from ≤ d < to, each account's databases read with read and merged (Merge)
// into one report.Input, as a single database's is built (Input); now is
// the wall clock. The caller sets the report's Bots, Account, Scope and
// CompletedMonths. The first error of read is returned as it is.
func Accounts(f *accounts.File, read ReadFunc, from, to, now time.Time) (report.AccountsInput, error) {
	in := report.AccountsInput{From: from, To: to, Today: now.UTC()}
	for _, a := range f.Accounts {
		ai := report.AccountInput{ID: a.ID, Name: a.Name, Parent: a.Parent, Grouping: len(a.DBs) == 0}
		if !ai.Grouping {
			snaps := make([]store.Snapshot, 0, len(a.DBs))
			for _, d := range a.DBs {
				s, err := read(a, d, to)
				if err != nil {
					return in, err
				}
				snaps = append(snaps, s)
			}
			merged := Merge(snaps...)
			ai.Input = Input(merged, from, to, report.Month, "", now)
			// The earliest coverage, before the range too, tells whether the
			// account existed when a month began.
			ai.Since = Earliest(merged)
		}
		in.Accounts = append(in.Accounts, ai)
	}
	return in, nil
}
