package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
)

// WriteAccounts renders an accounts report in format f to w.
func WriteAccounts(w io.Writer, r AccountsReport, f Format) error {
	switch f {
	case Pretty:
		return WriteAccountsPretty(w, r)
	case JSON:
		return WriteAccountsJSON(w, r)
	case HTML:
		return WriteAccountsHTML(w, r)
	case CSV:
		return WriteAccountsCSV(w, r)
	}
	return errors.New("an accounts report is printed as csv, pretty, json or html: give one of them to --format")
}

// AccountsCSVHeader is the header of an accounts report's CSV form.
const AccountsCSVHeader = "month,account_id,account_name,parent_id,parent_name,sessions,subtree_sessions,gaps,status"

// WriteAccountsCSV writes one row per month and account in scope, months in
// order and accounts in tree order (depth first, ids sorted among
// siblings). sessions is empty when the account's own databases covered no
// day of the month (always for a grouping account); subtree_sessions is
// empty when no account of its subtree did; gaps are the account's own, as
// the single-database report's CSV writes them.
func WriteAccountsCSV(w io.Writer, r AccountsReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(strings.Split(AccountsCSVHeader, ",")); err != nil {
		return err
	}
	for _, m := range r.Months {
		for _, a := range m.Rows {
			row := []string{m.Label, a.ID, a.Name, a.ParentID, a.ParentName, a.sessionsText(), a.subtreeText(), gapsText(a.Gaps), string(a.Status)}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func (a AccountRow) sessionsText() string { return countText(a.Covered, a.Sessions) }

func (a AccountRow) subtreeText() string { return countText(a.SubtreeCovered, a.Subtree) }

// WriteAccountsPretty writes a tree per month: each account indented under
// its parent with its own sessions ("-" when its databases covered no day
// of the month, or it has none), its subtree's, its status and its gaps.
func WriteAccountsPretty(w io.Writer, r AccountsReport) error {
	bw := bufio.NewWriter(w)
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	fmt.Fprintln(bw, rule)
	fmt.Fprintf(bw, "Session usage by account from %s to %s (TO excluded)\n", date(r.From), date(r.RangeTo))
	fmt.Fprintf(bw, "Scope: %s of %s; bots %sd\n", r.Scope, accountOrRoots(r.Account), r.Bots)
	fmt.Fprintln(bw, "All dates are in the format YYYY-MM-DD")
	fmt.Fprintln(bw, rule)
	for _, m := range r.Months {
		fmt.Fprintf(bw, "Month %s\n", m.Label)
		for _, a := range m.Rows {
			name := a.ID
			if a.Name != a.ID {
				name += " (" + a.Name + ")"
			}
			fmt.Fprintf(bw, "%s%s: own %s, subtree %s, %s", strings.Repeat("  ", a.Depth+1), name, dash(a.sessionsText()), dash(a.subtreeText()), a.Status)
			if len(a.Gaps) > 0 {
				fmt.Fprintf(bw, ", gaps %s", strings.ReplaceAll(gapsText(a.Gaps), ";", " "))
			}
			fmt.Fprintln(bw)
		}
	}
	if r.Dropped != "" {
		fmt.Fprintf(bw, "Month %s left out: it has not ended (--completed-months)\n", r.Dropped)
	}
	if !r.EndsAtToday.IsZero() {
		fmt.Fprintf(bw, "Report ends at today, %s\n", date(r.EndsAtToday))
	}
	fmt.Fprintln(bw, rule)
	return bw.Flush()
}

func accountOrRoots(id string) string {
	if id == "" {
		return "every root account"
	}
	return "account " + id
}

type jsonAccountsReport struct {
	From            string             `json:"from"`
	To              string             `json:"to"`
	EndsAtToday     string             `json:"ends_at_today,omitempty"`
	Bots            string             `json:"bots"`
	Account         *string            `json:"account"` // null: every root
	Scope           string             `json:"scope"`
	CompletedMonths bool               `json:"completed_months"`
	Dropped         *string            `json:"month_left_out"` // null: none
	Months          []jsonAccountMonth `json:"months"`
}

type jsonAccountMonth struct {
	Month    string             `json:"month"`
	Start    string             `json:"start"`
	End      string             `json:"end"`
	Accounts []*jsonAccountNode `json:"accounts"`
}

type jsonAccountNode struct {
	ID              string             `json:"id"`
	Name            string             `json:"name"`
	ParentID        *string            `json:"parent_id"`
	ParentName      *string            `json:"parent_name"`
	Sessions        *uint64            `json:"sessions"`         // null: no covered day of its own
	SubtreeSessions *uint64            `json:"subtree_sessions"` // null: no covered day in its subtree
	Gaps            []jsonSpan         `json:"gaps"`
	Status          string             `json:"status"`
	Children        []*jsonAccountNode `json:"children"`
}

// WriteAccountsJSON writes the report as indented JSON: per month, the
// accounts in scope as a tree (each node's children in it, ids sorted),
// sessions and subtree_sessions null where the CSV's cells are empty.
func WriteAccountsJSON(w io.Writer, r AccountsReport) error {
	out := jsonAccountsReport{From: date(r.From), To: date(r.RangeTo), Bots: r.Bots.String(), Scope: r.Scope.String(),
		CompletedMonths: r.CompletedMonths, Months: make([]jsonAccountMonth, 0, len(r.Months))}
	if !r.EndsAtToday.IsZero() {
		out.EndsAtToday = date(r.EndsAtToday)
	}
	if r.Account != "" {
		out.Account = &r.Account
	}
	if r.Dropped != "" {
		out.Dropped = &r.Dropped
	}
	for _, m := range r.Months {
		jm := jsonAccountMonth{Month: m.Label, Start: date(m.Start), End: date(m.End), Accounts: []*jsonAccountNode{}}
		var stack []*jsonAccountNode // stack[d]: the last node at depth d
		for _, a := range m.Rows {
			n := &jsonAccountNode{ID: a.ID, Name: a.Name, Gaps: make([]jsonSpan, 0, len(a.Gaps)), Status: string(a.Status), Children: []*jsonAccountNode{}}
			if a.ParentID != "" {
				n.ParentID, n.ParentName = &a.ParentID, &a.ParentName
			}
			if a.Covered {
				n.Sessions = &a.Sessions
			}
			if a.SubtreeCovered {
				n.SubtreeSessions = &a.Subtree
			}
			for _, s := range a.Gaps {
				n.Gaps = append(n.Gaps, jsonSpan{date(s.Start), date(s.End)})
			}
			stack = append(stack[:a.Depth], n)
			if a.Depth == 0 {
				jm.Accounts = append(jm.Accounts, n)
			} else {
				p := stack[a.Depth-1]
				p.Children = append(p.Children, n)
			}
		}
		out.Months = append(out.Months, jm)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// accountsHTMLView is what the accounts page template prints.
type accountsHTMLView struct {
	From, Last, To string
	Scope, Of      string
	Bots           string
	Dropped        string
	EndsAtToday    string
	Legend         []accountsHTMLLegend
	Chart          accountsHTMLChart
	Months         []accountsHTMLMonth
}

type accountsHTMLLegend struct{ ID, Name, Color string }

type accountsHTMLChart struct {
	Width, Height, Left, Bottom int
	Ticks                       []htmlTick
	Bars                        []accountsHTMLBar
	Labels                      []htmlText
}

type accountsHTMLBar struct {
	Month, Account, Sessions string
	X, Y, W, H, Color, Title string
}

type accountsHTMLMonth struct {
	Label string
	Rows  []accountsHTMLRow
}

type accountsHTMLRow struct {
	ID, Name, ParentID, ParentName string
	Indent                         string
	Sessions, Subtree, Gaps        string
	Status                         string
}

// accountColors are the stack's colors, one per top-level child in order.
var accountColors = []string{"#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#718096"}

// WriteAccountsHTML writes one self-contained HTML5 page (nothing loaded,
// as WriteHTML's): a stacked bar per month, its segments the subtree
// sessions of each top-level child of the scope (the accounts at depth 1,
// and each depth-0 account's own sessions), and the table of the CSV's rows.
//
// The markup is machine-checkable against the CSV: each table row is
// <tr data-month data-account> with <td class="sessions">,
// <td class="subtree">, <td class="gaps"> and <td class="status"> holding
// the CSV's cells; <svg id="chart"> holds one <rect class="bar" data-month
// data-account data-sessions> per segment with sessions.
func WriteAccountsHTML(w io.Writer, r AccountsReport) error {
	v := accountsHTMLView{From: date(r.From), To: date(r.RangeTo), Scope: r.Scope.String(), Of: accountOrRoots(r.Account), Bots: r.Bots.String(), Dropped: r.Dropped}
	v.Last = date(r.To.AddDate(0, 0, -1))
	if !r.EndsAtToday.IsZero() {
		v.EndsAtToday = date(r.EndsAtToday)
	}
	// The segments: per month, each depth-0 account's own sessions and each
	// depth-1 account's subtree.
	type segment struct {
		id, name string
		value    uint64
	}
	colors := map[string]string{}
	color := func(id, name string) string {
		if c, ok := colors[id]; ok {
			return c
		}
		c := accountColors[len(colors)%len(accountColors)]
		colors[id] = c
		v.Legend = append(v.Legend, accountsHTMLLegend{ID: id, Name: name, Color: c})
		return c
	}
	segments := make([][]segment, len(r.Months))
	var most uint64
	for i, m := range r.Months {
		var sum uint64
		for _, a := range m.Rows {
			switch {
			case a.Depth == 0 && a.Covered:
				segments[i] = append(segments[i], segment{a.ID, a.Name, a.Sessions})
				sum += a.Sessions
			case a.Depth == 1 && a.SubtreeCovered:
				segments[i] = append(segments[i], segment{a.ID, a.Name, a.Subtree})
				sum += a.Subtree
			}
		}
		most = max(most, sum)
		hm := accountsHTMLMonth{Label: m.Label}
		for _, a := range m.Rows {
			hm.Rows = append(hm.Rows, accountsHTMLRow{ID: a.ID, Name: a.Name, ParentID: a.ParentID, ParentName: a.ParentName,
				Indent: strings.Repeat("\u00a0\u00a0", a.Depth), Sessions: a.sessionsText(), Subtree: a.subtreeText(), Gaps: gapsText(a.Gaps), Status: string(a.Status)})
		}
		v.Months = append(v.Months, hm)
	}
	step := niceStep(most)
	ticks := max((most+step-1)/step, 1)
	top := step * ticks // the first tick at or above most

	c := accountsHTMLChart{Width: 720, Height: 260, Left: 64, Bottom: 230}
	plot := float64(c.Bottom - 20)
	for k := uint64(0); k <= ticks; k++ {
		y := float64(c.Bottom) - plot*float64(k*step)/float64(top)
		c.Ticks = append(c.Ticks, htmlTick{Y: num(y), Label: shortNumber(k * step)})
	}
	slot := float64(c.Width-c.Left-8) / float64(max(len(r.Months), 1))
	for i, m := range r.Months {
		x := float64(c.Left) + float64(i)*slot + slot*0.15
		y := float64(c.Bottom)
		for _, s := range segments[i] {
			h := plot * float64(s.value) / float64(top)
			y -= h
			c.Bars = append(c.Bars, accountsHTMLBar{Month: m.Label, Account: s.id, Sessions: strconv.FormatUint(s.value, 10),
				X: num(x), Y: num(y), W: num(slot * 0.7), H: num(h), Color: color(s.id, s.name),
				Title: m.Label + " " + s.id + ": " + groupThousands(s.value) + " sessions"})
		}
		c.Labels = append(c.Labels, htmlText{X: num(x + slot*0.35), Y: strconv.Itoa(c.Bottom + 16), Text: m.Label})
	}
	v.Chart = c
	var b bytes.Buffer
	if err := accountsPage.Execute(&b, v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

var accountsPage = template.Must(template.New("accounts").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Session usage by account, {{.From}} to {{.Last}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#1a202c}
table{border-collapse:collapse;margin-top:1em}
th,td{border-bottom:1px solid #e2e8f0;padding:.25em .75em;text-align:left;white-space:nowrap}
td.sessions,td.subtree{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 1em}
.note{color:#4a5568}
@media print{body{margin:1cm}}
</style>
</head>
<body>
<h1>Session usage by account</h1>
<p>Days {{.From}} to {{.Last}} (UTC; export range {{.From}} to {{.To}}, TO excluded). Scope: {{.Scope}} of {{.Of}}. Bots {{.Bots}}d.</p>
{{if .EndsAtToday}}<p class="note" id="ends-at-today">Report ends at today, {{.EndsAtToday}}: later days have not happened.</p>{{end}}
{{if .Dropped}}<p class="note" id="month-left-out">Month {{.Dropped}} left out: it has not ended (--completed-months).</p>{{end}}
<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{{.Chart.Width}}" height="{{.Chart.Height}}" role="img" aria-label="Sessions per month by account">
{{range .Chart.Ticks}}<line x1="{{$.Chart.Left}}" x2="{{$.Chart.Width}}" y1="{{.Y}}" y2="{{.Y}}" stroke="#e2e8f0"/><text x="{{$.Chart.Left}}" dx="-6" y="{{.Y}}" text-anchor="end" font-size="11">{{.Label}}</text>
{{end}}{{range .Chart.Bars}}<rect class="bar" data-month="{{.Month}}" data-account="{{.Account}}" data-sessions="{{.Sessions}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Color}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Chart.Labels}}<text x="{{.X}}" y="{{.Y}}" text-anchor="middle" font-size="11">{{.Text}}</text>
{{end}}</svg>
<p class="legend">{{range .Legend}}<span style="background:{{.Color}}"></span>{{.ID}}{{if ne .ID .Name}} ({{.Name}}){{end}}{{end}}</p>
<table id="accounts">
<thead><tr><th>Month</th><th>Account</th><th>Name</th><th>Parent</th><th>Sessions</th><th>Subtree sessions</th><th>Gaps</th><th>Status</th></tr></thead>
<tbody>
{{range $m := .Months}}{{range .Rows}}<tr data-month="{{$m.Label}}" data-account="{{.ID}}"><td>{{$m.Label}}</td><td class="account">{{.Indent}}{{.ID}}</td><td class="name">{{.Name}}</td><td class="parent">{{.ParentID}}</td><td class="sessions">{{.Sessions}}</td><td class="subtree">{{.Subtree}}</td><td class="gaps">{{.Gaps}}</td><td class="status">{{.Status}}</td></tr>
{{end}}{{end}}</tbody>
</table>
<p class="note">Status: ok, every day of the month in range metered by the account's own databases; not_existent, its data begins after the month's first day in range (or has not begun); not_available, some days not metered; none, a grouping account with no database.</p>
</body>
</html>
`))
