package report

import (
	"fmt"
	"slices"
	"time"
)

// Status says, for one account and month, whether its own databases metered
// the whole month.
type Status string

const (
	// StatusOK: every day of the month in the range is covered by the
	// union of the account's own databases.
	StatusOK Status = "ok"
	// StatusNotExistent: the account's data begins after the month's first
	// day in the range (its earliest covered day is later), or it has no
	// covered day yet.
	StatusNotExistent Status = "not_existent"
	// StatusNotAvailable: the account's data had begun, but some days of
	// the month in the range are not covered.
	StatusNotAvailable Status = "not_available"
	// StatusNone: a grouping account, with no database of its own.
	StatusNone Status = "none"
)

// Scope is the part of the tree an accounts report lists.
type Scope int

const (
	ScopeTree     Scope = iota // the account and every account below it: the default
	ScopeChildren              // the account and its direct children
	ScopeSelf                  // the account only
)

// ParseScope reads self, children or tree.
func ParseScope(s string) (Scope, error) {
	switch s {
	case "tree":
		return ScopeTree, nil
	case "children":
		return ScopeChildren, nil
	case "self":
		return ScopeSelf, nil
	}
	return 0, fmt.Errorf("--scope %q: want self (the account only), children (it and its direct children) or tree (it and every account below it)", s)
}

// String returns the scope's name, as --scope takes it.
func (s Scope) String() string { return [...]string{"tree", "children", "self"}[s] }

// AccountInput is one account of an accounts report: its place in the tree
// and its own databases' numbers, merged.
type AccountInput struct {
	ID, Name, Parent string // Parent empty: a root
	// Grouping is an account with no database: it is metered only through
	// its descendants.
	Grouping bool
	// Input is the account's own databases merged (their days and hours
	// added, their coverage united); its range, today and bot mode are the
	// report's. Ignored for a grouping account.
	Input Input
	// Since is the start of the earliest coverage in any of the account's
	// databases, before the range or in it; zero: none has coverage yet.
	Since time.Time
}

// AccountsInput is what an accounts report is built from.
type AccountsInput struct {
	From, To time.Time // UTC days, From < To
	Today    time.Time // as Input.Today
	Bots     BotMode
	Accounts []AccountInput
	// Account is the account the report starts from; empty: every root.
	Account string
	Scope   Scope
	// CompletedMonths leaves out the month that has not ended by Today.
	CompletedMonths bool
}

// AccountsReport is a built accounts report: per month, the accounts in
// scope in tree order.
type AccountsReport struct {
	From, To, RangeTo time.Time // as Report's
	EndsAtToday       time.Time // as Report's
	Bots              BotMode
	Account           string // empty: every root
	Scope             Scope
	CompletedMonths   bool
	// Dropped is the month left out because it has not ended
	// (CompletedMonths); empty when none was. To is then its first day
	// and EndsAtToday zero.
	Dropped string
	Months  []AccountsMonth
}

// AccountsMonth is one month of an accounts report.
type AccountsMonth struct {
	Label      string
	Start, End time.Time // the whole calendar month, half-open
	Rows       []AccountRow
}

// AccountRow is one account in one month.
type AccountRow struct {
	ID, Name             string
	ParentID, ParentName string // empty for a root
	Depth                int    // 0 for the accounts the scope starts from
	Grouping             bool
	// Covered: the account's own databases covered a day of the month in
	// the range; Sessions is then their sessions, as the single-database
	// report counts them (empty in print otherwise).
	Covered  bool
	Sessions uint64
	// SubtreeCovered: the account or a descendant covered a day of the
	// month; Subtree is then the account's sessions and all its
	// descendants', whatever the scope.
	SubtreeCovered bool
	Subtree        uint64
	Gaps           []Span // the account's own gaps meeting the month, as the single report's
	Status         Status
}

// BuildAccounts computes an accounts report. Each account's own rows,
// sessions and gaps are those of Build on its Input, by month: an account
// of several databases is reported as one database would be. It fails on an
// Account that is not among the accounts.
func BuildAccounts(in AccountsInput) (AccountsReport, error) {
	r := AccountsReport{Bots: in.Bots, Account: in.Account, Scope: in.Scope, CompletedMonths: in.CompletedMonths}
	frame := Build(Input{From: in.From, To: in.To, By: Month, Today: in.Today})
	r.From, r.To, r.RangeTo, r.EndsAtToday = frame.From, frame.To, frame.RangeTo, frame.EndsAtToday

	byID := map[string]int{}
	children := map[string][]string{}
	for i, a := range in.Accounts {
		byID[a.ID] = i
		children[a.Parent] = append(children[a.Parent], a.ID)
	}
	for _, ids := range children {
		slices.Sort(ids)
	}
	starts := children[""]
	if in.Account != "" {
		if _, ok := byID[in.Account]; !ok {
			return r, fmt.Errorf("no account %q", in.Account)
		}
		starts = []string{in.Account}
	}

	// Each account's own report, by month.
	own := make([]Report, len(in.Accounts))
	for i, a := range in.Accounts {
		if a.Grouping {
			continue
		}
		ai := a.Input
		ai.From, ai.To, ai.Today, ai.By, ai.Bots = in.From, in.To, in.Today, Month, in.Bots
		own[i] = Build(ai)
	}

	today := in.Today.UTC().Truncate(day)
	for m, p := range frame.Periods {
		if in.CompletedMonths && !in.Today.IsZero() && p.End.After(today) {
			r.Dropped = p.Label
			continue
		}
		month := AccountsMonth{Label: p.Label, Start: p.Start, End: p.End}
		rows := make([]AccountRow, len(in.Accounts))
		for i, a := range in.Accounts {
			row := AccountRow{ID: a.ID, Name: a.Name, ParentID: a.Parent, Grouping: a.Grouping, Status: StatusNone}
			if a.Parent != "" {
				row.ParentName = in.Accounts[byID[a.Parent]].Name
			}
			if !a.Grouping {
				op := own[i].Periods[m]
				row.Covered, row.Sessions, row.Gaps = op.Covered(), op.Sessions, op.Gaps
				row.Status = status(op, a.Since, maxTime(p.Start, r.From), minTime(p.End, r.To))
			}
			rows[i] = row
		}
		// Subtree totals over the whole tree, whatever the scope.
		var subtree func(id string) (uint64, bool)
		subtree = func(id string) (uint64, bool) {
			row := &rows[byID[id]]
			row.Subtree, row.SubtreeCovered = row.Sessions, row.Covered
			for _, c := range children[id] {
				s, covered := subtree(c)
				row.Subtree += s
				row.SubtreeCovered = row.SubtreeCovered || covered
			}
			return row.Subtree, row.SubtreeCovered
		}
		for _, root := range children[""] {
			subtree(root)
		}
		var walk func(id string, depth int)
		walk = func(id string, depth int) {
			row := rows[byID[id]]
			row.Depth = depth
			month.Rows = append(month.Rows, row)
			if in.Scope == ScopeSelf || in.Scope == ScopeChildren && depth == 1 {
				return
			}
			for _, c := range children[id] {
				walk(c, depth+1)
			}
		}
		for _, s := range starts {
			walk(s, 0)
		}
		r.Months = append(r.Months, month)
	}
	if r.Dropped != "" {
		// The report ends where the dropped month begins: it no longer
		// reaches today.
		r.EndsAtToday = time.Time{}
		r.To = maxTime(frame.Periods[len(frame.Periods)-1].Start, r.From)
	}
	return r, nil
}

// status is the status of an account with databases for the month period
// p whose days in the range are start ≤ d < end, given the start of its
// earliest coverage (zero: none).
func status(p Period, since, start, end time.Time) Status {
	switch {
	case since.IsZero() || since.UTC().Truncate(day).After(start):
		return StatusNotExistent
	case p.CoveredDays == int(end.Sub(start)/day):
		return StatusOK
	}
	return StatusNotAvailable
}
