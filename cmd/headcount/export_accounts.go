package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/agent/admin"
	"headcount/report"
	"headcount/report/accounts"
	"headcount/report/export"
	"headcount/store"
)

// accountsFlags are export's flags for several databases: an accounts file,
// or several --db merged.
func accountsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "accounts", EnvVars: env("ACCOUNTS"), Usage: "report per account and month from this accounts `FILE` (YAML: accounts, their parents, their databases); see the README's Accounts section"},
		&cli.StringFlag{Name: "account", EnvVars: env("ACCOUNT"), Usage: "with --accounts: start the report at the account `ID` (default: every root account)"},
		&cli.StringFlag{Name: "scope", Value: "tree", EnvVars: env("SCOPE"), Usage: "with --accounts: self (the account only), children (it and its direct children) or tree (it and every account below it)"},
		&cli.BoolFlag{Name: "completed-months", EnvVars: env("COMPLETED_MONTHS"), Usage: "with --accounts: leave out the month that has not ended yet"},
		&cli.BoolFlag{Name: "by-environment", EnvVars: env("BY_ENVIRONMENT"), Usage: "with several --db: a block of rows per stored environment, then a TOTAL row per period (CSV and pretty)"},
	}
}

// exportOptions are the export flags read before the databases are.
type exportOptions struct {
	from, to time.Time
	now      time.Time
	format   report.Format
	by       report.Granularity
	bots     report.BotMode
	summary  bool // the summary of live sessions instead of the usage report
	client   admin.Client
}

// parts returns what a snapshot must hold for the options: the hour
// statistics when the summary, JSON, HTML or a report by day show them.
func (o exportOptions) parts() store.Parts {
	return store.Parts{Hours: o.summary || o.format == report.JSON || o.format == report.HTML || o.by == report.Day}
}

// reportEnvironment is the environment a report names: --environment, or
// the one the database stores, or this host's default.
func reportEnvironment(c *cli.Context, stored string) string {
	if env := c.String("environment"); env != "" {
		return env
	}
	if stored != "" {
		return stored
	}
	return environment("")
}

// severalDatabases reports whether the export reads more than one database
// or an accounts file, refusing the flags that belong to the other mode.
func severalDatabases(c *cli.Context) (bool, error) {
	dbs := c.StringSlice("db")
	switch {
	case c.IsSet("accounts"):
		if c.IsSet("db") {
			return false, usagef("--accounts names the databases: drop --db, or drop --accounts to report on --db alone")
		}
		for _, name := range []string{"environment", "by-environment", "bot-column", "license", "summary"} {
			if c.IsSet(name) {
				return false, usagef("--%s does not apply to an accounts report (--accounts); drop it", name)
			}
		}
		if c.String("format") == "summary" {
			return false, usagef("--format summary does not apply to an accounts report (--accounts): give csv, pretty, json or html")
		}
		if c.String("by") != "month" {
			return false, usagef("an accounts report (--accounts) is by month: drop --by %s", c.String("by"))
		}
		return true, nil
	case c.IsSet("account") || c.IsSet("scope") || c.IsSet("completed-months"):
		for _, name := range []string{"account", "scope", "completed-months"} {
			if c.IsSet(name) {
				return false, usagef("--%s applies to an accounts report: add --accounts FILE", name)
			}
		}
	case len(dbs) == 0:
		return false, usagef("--db is empty: give a database FILE")
	case len(dbs) > 1:
		if c.IsSet("license") {
			return false, usagef("--license reads the consumption of one database; give one --db")
		}
		return true, nil
	case c.Bool("by-environment"):
		return false, usagef("--by-environment splits several databases: give --db once for each")
	}
	return false, nil
}

// exportSeveral prints the report of an accounts file or of several --db.
func exportSeveral(c *cli.Context, o exportOptions, write func(func(io.Writer) error) error) error {
	if path := c.String("accounts"); path != "" {
		return exportAccounts(c, path, o, write)
	}
	return exportMerged(c, o, write)
}

func exportAccounts(c *cli.Context, path string, o exportOptions, write func(func(io.Writer) error) error) error {
	scope, err := report.ParseScope(c.String("scope"))
	if err != nil {
		return usageError{err}
	}
	f, err := accounts.Load(path)
	if err != nil {
		return usageError{err}
	}
	if id := c.String("account"); id != "" {
		if _, ok := f.Account(id); !ok {
			return usagef("--account %q is not in %s; its accounts are %s", id, path, strings.Join(f.IDs(), ", "))
		}
	}
	read := func(a accounts.Account, d accounts.DB, to time.Time) (store.Snapshot, error) {
		client := o.client
		if d.AdminAddr != "" {
			client.Addr = d.AdminAddr
		}
		s, err := admin.ReadSnapshot(d.Path, client, time.Unix(0, 0).UTC(), to, store.Parts{})
		if err != nil {
			return s, accountDBError(a.ID, d, err)
		}
		return s, nil
	}
	in, err := export.Accounts(f, read, o.from, o.to, o.now)
	if err != nil {
		return err
	}
	in.Bots, in.Account, in.Scope, in.CompletedMonths = o.bots, c.String("account"), scope, c.Bool("completed-months")
	r, err := report.BuildAccounts(in)
	if err != nil {
		return err
	}
	return write(func(w io.Writer) error { return report.WriteAccounts(w, r, o.format) })
}

// accountDBError is an account's database that could not be read, with the
// accounts file's line and what to do.
func accountDBError(id string, d accounts.DB, err error) error {
	switch {
	case errors.Is(err, store.ErrMissing):
		return d.Errorf("account %q: %w; fix its path in the accounts file (a relative path is taken from the file's directory)", id, err)
	case errors.Is(err, store.ErrNotHeadcount):
		return d.Errorf("account %q: %w; list only the databases that headcount serve writes", id, err)
	}
	return d.Errorf("account %q: %w", id, err)
}

// exportMerged prints the report of several --db merged as one account, or
// with --by-environment one block per stored environment and a TOTAL.
func exportMerged(c *cli.Context, o exportOptions, write func(func(io.Writer) error) error) error {
	dbs := c.StringSlice("db")
	if err := distinctDatabases(dbs); err != nil {
		return err
	}
	snaps := make([]store.Snapshot, 0, len(dbs))
	for _, db := range dbs {
		s, err := admin.ReadSnapshot(db, o.client, o.from, o.to, o.parts())
		if err != nil {
			return err
		}
		snaps = append(snaps, s)
	}
	build := func(s store.Snapshot, env string) report.Report {
		in := export.Input(s, o.from, o.to, o.by, env, o.now)
		in.Bots = o.bots
		r := report.Build(in)
		r.BotColumn = c.Bool("bot-column")
		return r
	}
	all := export.Merge(snaps...)
	env := reportEnvironment(c, all.Environment)
	if o.summary {
		if c.Bool("by-environment") {
			return usagef("--by-environment does not apply to the summary: it sums the databases' live sessions; leave it out")
		}
		in := export.Input(all, o.from, o.to, o.by, env, o.now)
		s := report.BuildSummary(in)
		return write(func(w io.Writer) error { return report.WriteSummary(w, s, o.format) })
	}
	if !c.Bool("by-environment") {
		r := build(all, env)
		return write(func(w io.Writer) error { return report.Write(w, r, o.format) })
	}
	if o.format != report.CSV && o.format != report.Pretty {
		return usagef("--by-environment prints CSV or pretty; for JSON or HTML export each environment's --db on its own")
	}
	if c.IsSet("environment") {
		return usagef("--by-environment names each block by its stored environment: drop --environment")
	}
	var envs []string
	byEnv := map[string][]store.Snapshot{}
	for i, s := range snaps {
		name := s.Environment
		if name == "" {
			return usagef("%s has no stored environment to name its block: drop --by-environment", dbs[i])
		}
		if _, ok := byEnv[name]; !ok {
			envs = append(envs, name)
		}
		byEnv[name] = append(byEnv[name], s)
	}
	slices.Sort(envs)
	reports := make([]report.Report, 0, len(envs)+1)
	for _, name := range envs {
		reports = append(reports, build(export.Merge(byEnv[name]...), name))
	}
	reports = append(reports, build(all, "TOTAL"))
	return write(func(w io.Writer) error {
		if o.format == report.Pretty {
			for _, r := range reports {
				if err := report.WritePretty(w, r); err != nil {
					return err
				}
			}
			return nil
		}
		return writeCSVBlocks(w, reports)
	})
}

// distinctDatabases refuses a database file given twice among several --db,
// by the same path, another path to it or a link: merged, its sessions
// would be counted twice. A file that cannot be read is left to the read,
// which says why.
func distinctDatabases(dbs []string) error {
	type seen struct {
		name string
		info fs.FileInfo
	}
	var files []seen
	for _, db := range dbs {
		info, _ := os.Stat(db)
		for _, f := range files {
			switch {
			case f.name == db:
				return usagef("--db %s is given twice: its sessions would be counted twice; give each database once", db)
			case filepath.Clean(f.name) == filepath.Clean(db) || info != nil && f.info != nil && os.SameFile(f.info, info):
				return usagef("--db %s is the same file as --db %s: its sessions would be counted twice; give each database once", db, f.name)
			}
		}
		files = append(files, seen{db, info})
	}
	return nil
}

// writeCSVBlocks writes the reports as one CSV: the first's header, then
// every report's rows.
func writeCSVBlocks(w io.Writer, reports []report.Report) error {
	for i, r := range reports {
		var b strings.Builder
		if err := report.WriteCSV(&b, r); err != nil {
			return err
		}
		text := b.String()
		if i > 0 {
			text = text[strings.IndexByte(text, '\n')+1:]
		}
		if _, err := io.WriteString(w, text); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	}
	return nil
}
