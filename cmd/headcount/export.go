package main

import (
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/agent/admin"
	"headcount/internal/atomicfile"
	"headcount/report"
	"headcount/report/export"
)

// maxReportDays bounds a report's range: a century of days.
const maxReportDays = 36600

func exportCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:      "export",
		Usage:     "print the usage report of the days FROM ≤ day < TO (UTC)",
		ArgsUsage: "FROM TO",
		Description: "Prints one row per month (or --by week, day, year) with the sessions completed on the days that\n" +
			"were metered, and the gaps: runs of days in which nothing was metered. FROM and TO are YYYY-MM-DD;\n" +
			"TO is excluded, so `headcount export 2023-01-01 2024-04-02` ends on 2024-04-01.\n" +
			"Flags may also follow the dates: `headcount export 2023-01-01 2024-04-02 --pretty`.\n\n" +
			"Days after today (UTC) have not happened: they are neither metered nor gaps. A range reaching past\n" +
			"today ends at today (today itself is partial) and says so: no row for a period wholly after today,\n" +
			"`Report ends at today, YYYY-MM-DD` before the total (pretty), \"ends_at_today\" (JSON), a note (HTML).\n" +
			"A FROM after today is refused: no day of the range has happened yet.\n\n" +
			"Each session is classified at its start as human or bot (by its User-Agent); sessions never classified\n" +
			"(older history, imports, recoveries) are unclassified. JSON and HTML always show the three classes.\n" +
			"--bots exclude leaves the bots out of sessions and every total; unclassified sessions stay in.\n" +
			"--bot-column adds the bot sessions to CSV (column bot_sessions) and to the pretty form.\n\n" +
			"--format summary (or --summary with any form) prints, per period, the SFLM-style summary of live\n" +
			"sessions (sessions in progress, sampled by the agent as it runs), for the period, per hour of day\n" +
			"00..23 (UTC) and, for weeks and longer, per weekday Sunday..Saturday:\n" +
			"  metered_hours         hours the live sessions were sampled (3 decimals)\n" +
			"  peak_live             the most live sessions at once\n" +
			"  average_live_busiest  a day: mean of its 8 busiest hours' average live sessions (an hour's average:\n" +
			"                        its live session time over its sampled time); a week: mean of its 5 busiest\n" +
			"                        days; a month or year: mean of the 5 busiest days of each of its weeks (Sunday\n" +
			"                        to Saturday, cut to it), pooled: a piece of a week weighs by the days it gives.\n" +
			"                        average_live_HH: the hour's mean over the 5 busiest days of each week, pooled\n" +
			"                        likewise; average_live_WEEKDAY: mean of those days' 8-busiest-hours figure.\n" +
			"                        Averages have 2 decimals; hour and weekday cells are rounded each, so their\n" +
			"                        sum can differ from the period's in the last decimal\n" +
			"  session_hours         live sessions times the time they were live, in hours (3 decimals)\n" +
			"  unknown_days          metered days without hourly statistics (imported history), in no figure\n" +
			"Hours not metered are in no figure (never averaged as zero); a set of hours none of which was metered\n" +
			"has empty cells. The figures are not split into humans and bots: the hourly statistics carry no class.\n\n" +
			"It works whether the agent is running or not: a running agent holds the database, so export asks\n" +
			"it for the data through its admin endpoint (--admin-addr); a stopped agent's file is read directly.",
		OnUsageError: onUsage,
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "db", Value: cli.NewStringSlice("./headcount.db"), EnvVars: env("DB"), Usage: "database `FILE`; give it several times to report them as one (an HA pair, several agents of one site)"},
			adminAddrFlag(),
			&cli.BoolFlag{Name: "pretty", Usage: "the text form, as --format pretty"},
			&cli.StringFlag{Name: "format", Value: "csv", EnvVars: env("FORMAT"), Usage: "csv, pretty, json, html, or summary (the SFLM-style summary as CSV)"},
			&cli.BoolFlag{Name: "summary", EnvVars: env("SUMMARY"), Usage: "print the SFLM-style summary of live sessions instead of the usage report, in the form --format or --pretty gives"},
			&cli.StringFlag{Name: "by", Value: "month", EnvVars: env("BY"), Usage: "one row per month, week (Sunday to Saturday), day or year"},
			&cli.StringFlag{Name: "bots", Value: "include", EnvVars: env("BOTS"), Usage: "include: sessions and totals count every session; exclude: they leave out the sessions classified as bots (unclassified ones stay in)"},
			&cli.BoolFlag{Name: "bot-column", EnvVars: env("BOT_COLUMN"), Usage: "add the bot sessions to CSV (a bot_sessions column after the first four) and to the pretty form (a line per period and after the total); JSON and HTML always show them"},
			&cli.StringFlag{Name: "environment", EnvVars: env("ENVIRONMENT"), Usage: "environment `ID` printed in the report, instead of the one stored at first start"},
			&cli.StringFlag{Name: "output", Usage: "write the report to `FILE` (atomically: all of it or nothing) instead of standard output"},
			&cli.StringFlag{Name: "license", EnvVars: env("LICENSE"), Usage: "add the licence's consumption in its current contract year to JSON and HTML reports (signed licence `FILE`)"},
			&cli.StringFlag{Name: "license-pubkey", EnvVars: env("LICENSE_PUBKEY"), Usage: "the vendor's public key `FILE` for --license (default: built in)"},
		}, append(adminAuthFlags(), accountsFlags()...)...),
		Action: runExport,
	})
}

// exportValueFlags returns the names of export's flags that take a value
// (all but the boolean ones), for reorderArgs.
func exportValueFlags() map[string]bool {
	m := map[string]bool{}
	for _, f := range exportCommand(nil).Flags {
		if v, ok := f.(interface{ TakesValue() bool }); ok && v.TakesValue() {
			for _, n := range f.Names() {
				m[n] = true
			}
		}
	}
	return m
}

// reorderArgs moves export's flags in front of its dates, so that
// `headcount export FROM TO --pretty` parses as the original script's did.
func reorderArgs(args []string) []string {
	if len(args) < 2 || args[1] != "export" {
		return args
	}
	var flags, positional []string
	valueFlags := exportValueFlags()
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if valueFlags[name] && i+1 < len(rest) {
			flags = append(flags, rest[i+1])
			i++
		}
	}
	out := append([]string{args[0], "export"}, flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}

func parseDate(which, s string) (time.Time, error) {
	t, err := time.Parse(report.DateLayout, s)
	if err != nil {
		return time.Time{}, usagef("%s %q is not a date: want YYYY-MM-DD", which, s)
	}
	return t, nil
}

// parseRange reads a command's two date arguments, FROM and TO, with
// FROM before TO.
func parseRange(c *cli.Context) (from, to time.Time, err error) {
	if c.NArg() != 2 {
		return from, to, usagef("%s takes two dates, FROM and TO, e.g. headcount %s 2023-01-01 2024-04-02", c.Command.Name, c.Command.Name)
	}
	if from, err = parseDate("FROM", c.Args().Get(0)); err != nil {
		return from, to, err
	}
	if to, err = parseDate("TO", c.Args().Get(1)); err != nil {
		return from, to, err
	}
	if !from.Before(to) {
		return from, to, usagef("FROM %s is not before TO %s: the range is FROM ≤ day < TO", c.Args().Get(0), c.Args().Get(1))
	}
	return from, to, nil
}

func runExport(c *cli.Context) error {
	from, to, err := parseRange(c)
	if err != nil {
		return err
	}
	now := time.Now()
	if today := now.UTC().Truncate(24 * time.Hour); from.After(today) {
		return usagef("FROM %s is after today, %s: no day of the range has happened yet", from.Format(report.DateLayout), today.Format(report.DateLayout))
	}
	if days := (to.Unix() - from.Unix()) / 86400; days > maxReportDays {
		return usagef("the range has %d days; a report covers at most %d", days, maxReportDays)
	}
	// --format summary is the summary as CSV; --summary gives it in any form.
	summary, formatName := c.Bool("summary"), c.String("format")
	if formatName == "summary" {
		summary, formatName = true, "csv"
	}
	format, err := report.ParseFormat(formatName)
	if err != nil {
		return usagef("--format %q: want csv, pretty, json, html or summary", c.String("format"))
	}
	if c.Bool("pretty") {
		if c.IsSet("format") && c.String("format") == "summary" {
			return usagef("--pretty and --format summary ask for two forms: give one (the summary as text is --summary --pretty)")
		}
		if c.IsSet("format") && format != report.Pretty {
			return usagef("--pretty and --format %s ask for two forms: give one", c.String("format"))
		}
		format = report.Pretty
	}
	by, err := report.ParseGranularity(c.String("by"))
	if err != nil {
		return usageError{err}
	}
	bots, err := report.ParseBotMode(c.String("bots"))
	if err != nil {
		return usageError{err}
	}
	if summary {
		switch {
		case bots == report.ExcludeBots || c.Bool("bot-column"):
			return usagef("--bots exclude and --bot-column do not apply to the summary: its live-session figures are not split into humans and bots (the hourly statistics carry no class); leave them out")
		case c.String("license") != "":
			return usagef("--license does not apply to the summary: it shows no licence consumption; leave it out")
		}
	}
	output := c.String("output")
	if output != "" {
		if err := dirMustExist("--output", output); err != nil {
			return err
		}
	}
	several, err := severalDatabases(c)
	if err != nil {
		return err
	}

	client, err := adminClient(c)
	if err != nil {
		return err
	}
	o := exportOptions{from: from, to: to, now: now, format: format, by: by, bots: bots, summary: summary, client: client}
	if several {
		return exportSeveral(c, o, func(write func(io.Writer) error) error { return writeReport(c, output, write) })
	}
	db := c.StringSlice("db")[0]
	snap, err := admin.ReadSnapshot(db, client, from, to, o.parts())
	if err != nil {
		return err
	}
	env := reportEnvironment(c, snap.Environment)
	in := export.Input(snap, from, to, by, env, now)
	if summary {
		s := report.BuildSummary(in)
		return writeReport(c, output, func(w io.Writer) error { return report.WriteSummary(w, s, format) })
	}
	in.Bots = bots
	r := report.Build(in)
	r.BotColumn = c.Bool("bot-column")
	if path := c.String("license"); path != "" {
		if r.Consumption, err = consumption(path, c.String("license-pubkey"), db, client); err != nil {
			return err
		}
	}
	return writeReport(c, output, func(w io.Writer) error { return report.Write(w, r, format) })
}

// writeReport writes a report to standard output, or atomically to output
// when it is set.
func writeReport(c *cli.Context, output string, write func(w io.Writer) error) error {
	if output == "" {
		return write(c.App.Writer)
	}
	return atomicfile.Write(output, 0o644, write)
}

// consumption computes the licence's use in its current contract year, as
// headcount usage prints it.
func consumption(license, pubkey, db string, client admin.Client) (*report.Consumption, error) {
	l, err := loadLicense(license, "--license-pubkey", pubkey)
	if err != nil {
		return nil, err
	}
	u, err := contractConsumption(l, db, client, time.Now())
	if err != nil {
		return nil, err
	}
	return &report.Consumption{License: l.ID, Deployment: l.Deployment, YearStart: u.YearStart, YearEnd: u.YearEnd,
		Entitled: u.Entitled, Used: u.Used, Percent: u.Percent, DailyRate: u.DailyRate, RecentMetered: u.RecentMetered, RunsOut: u.RunsOut}, nil
}
