package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/agent"
	"headcount/report"
	"headcount/reporting"
	"headcount/store"
)

// maxReportDays bounds a report's range: a century of days.
const maxReportDays = 36600

func exportCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "print the usage report of the days FROM ≤ day < TO (UTC)",
		ArgsUsage: "FROM TO",
		Description: "Prints one row per month (or --by week, day, year) with the sessions completed on the days that\n" +
			"were metered, and the gaps: runs of days in which nothing was metered. FROM and TO are YYYY-MM-DD;\n" +
			"TO is excluded, so `headcount export 2023-01-01 2024-04-02` ends on 2024-04-01.\n" +
			"Flags may also follow the dates: `headcount export 2023-01-01 2024-04-02 --pretty`.\n\n" +
			"It works whether the agent is running or not: a running agent holds the database, so export asks\n" +
			"it for the data through its admin endpoint (--admin-addr); a stopped agent's file is read directly.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			dbFlag("database `FILE`"), adminAddrFlag(),
			&cli.BoolFlag{Name: "pretty", Usage: "the text form, as --format pretty"},
			&cli.StringFlag{Name: "format", Value: "csv", EnvVars: env("FORMAT"), Usage: "csv, pretty, json or html"},
			&cli.StringFlag{Name: "by", Value: "month", EnvVars: env("BY"), Usage: "one row per month, week (Sunday to Saturday), day or year"},
			&cli.StringFlag{Name: "environment", EnvVars: env("ENVIRONMENT"), Usage: "environment `ID` printed in the report, instead of the one stored at first start"},
			&cli.StringFlag{Name: "output", Usage: "write the report to `FILE` (atomically: all of it or nothing) instead of standard output"},
			&cli.StringFlag{Name: "license", EnvVars: env("LICENSE"), Usage: "add the licence's consumption in its current contract year to JSON and HTML reports (signed licence `FILE`)"},
			&cli.StringFlag{Name: "license-pubkey", EnvVars: env("LICENSE_PUBKEY"), Usage: "the vendor's public key `FILE` for --license (default: built in)"},
		},
		Action: export,
	}
}

func importCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "add daily history from another meter",
		ArgsUsage: "FILE.csv",
		Description: "Reads rows `date,sessions` (a header line `date,sessions` first, dates YYYY-MM-DD in UTC) and, in one\n" +
			"transaction, adds each day's sessions and marks the day as metered. A bad row rejects the whole file,\n" +
			"naming its line; so does a day the database already counts, so an import cannot count a day twice.\n" +
			"The agent must be stopped: it holds the database while it runs.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "db", Value: "./headcount.db", EnvVars: env("DB"), Usage: "database `FILE`, created with mode 0600 if missing"},
			&cli.StringFlag{Name: "environment", EnvVars: env("ENVIRONMENT"), Usage: "environment `ID` to store if the database has none yet"},
		},
		Action: importHistory,
	}
}

// exportValueFlags returns the names of export's flags that take a value
// (all but the boolean ones), for reorderArgs.
func exportValueFlags() map[string]bool {
	m := map[string]bool{}
	for _, f := range exportCommand(nil).Flags {
		if _, isBool := f.(*cli.BoolFlag); !isBool {
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

func export(c *cli.Context) error {
	from, to, err := parseRange(c)
	if err != nil {
		return err
	}
	if days := (to.Unix() - from.Unix()) / 86400; days > maxReportDays {
		return usagef("the range has %d days; a report covers at most %d", days, maxReportDays)
	}
	format, err := report.ParseFormat(c.String("format"))
	if err != nil {
		return usageError{err}
	}
	if c.Bool("pretty") {
		if c.IsSet("format") && format != report.Pretty {
			return usagef("--pretty and --format %s ask for two forms: give one", c.String("format"))
		}
		format = report.Pretty
	}
	by, err := report.ParseGranularity(c.String("by"))
	if err != nil {
		return usageError{err}
	}
	output := c.String("output")
	if output != "" {
		if info, err := os.Stat(filepath.Dir(output)); err != nil || !info.IsDir() {
			return usagef("--output %s: its directory does not exist", output)
		}
	}

	hours := format == report.JSON || format == report.HTML || by == report.Day
	snap, err := readSnapshot(c.String("db"), c.String("admin-addr"), from, to, store.Parts{Hours: hours})
	if err != nil {
		return err
	}
	env := c.String("environment")
	if env == "" {
		env = snap.Environment
	}
	if env == "" {
		env = environment("")
	}
	r := report.Build(reporting.Input(snap, from, to, by, env))
	if path := c.String("license"); path != "" {
		if r.Consumption, err = consumption(path, c.String("license-pubkey"), c.String("db"), c.String("admin-addr")); err != nil {
			return err
		}
	}
	write := func(w io.Writer) error { return report.Write(w, r, format) }
	if output == "" {
		return write(c.App.Writer)
	}
	return writeAtomically(output, 0o644, write)
}

// consumption computes the licence's use in its current contract year, as
// headcount usage prints it.
func consumption(license, pubkey, db, adminAddr string) (*report.Consumption, error) {
	l, err := loadLicense(license, pubkey)
	if err != nil {
		return nil, err
	}
	u, err := licenseUsage(l, db, adminAddr, time.Now())
	if err != nil {
		return nil, err
	}
	return &report.Consumption{License: l.ID, Deployment: l.Deployment, YearStart: u.YearStart, YearEnd: u.YearEnd,
		Entitled: u.Entitled, Used: u.Used, Percent: u.Percent, DailyRate: u.DailyRate, RunsOut: u.RunsOut}, nil
}

// readSnapshot reads what the report needs: from the file when no agent holds
// it, else from the agent that does, through its admin endpoint.
func readSnapshot(path, adminAddr string, from, to time.Time, parts store.Parts) (store.Snapshot, error) {
	db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err == nil {
		defer db.Close()
		return db.Snapshot(from, to, parts)
	}
	if !errors.Is(err, store.ErrLocked) {
		return store.Snapshot{}, err
	}
	id, err := store.FileID(path)
	if err != nil {
		return store.Snapshot{}, err
	}
	q := url.Values{"from": {from.Format(report.DateLayout)}, "to": {to.Format(report.DateLayout)}}
	if parts.Hours {
		q.Set("hours", "1")
	}
	if parts.Windows {
		q.Set("windows", "1")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get("http://" + adminAddr + "/snapshot?" + q.Encode())
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("%s is held by a running agent, and its admin endpoint %s did not answer (set --admin-addr to the agent's): %w", path, adminAddr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("reading the agent's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return store.Snapshot{}, fmt.Errorf("the agent at %s answered %s: %s", adminAddr, resp.Status, strings.TrimSpace(string(body)))
	}
	var answer agent.SnapshotResponse
	if err := json.Unmarshal(body, &answer); err != nil {
		return store.Snapshot{}, fmt.Errorf("the agent at %s sent an unreadable answer: %w", adminAddr, err)
	}
	if answer.DB != id {
		return store.Snapshot{}, fmt.Errorf("the agent at %s serves another database than %s: set --admin-addr to the agent that holds it", adminAddr, path)
	}
	return answer.Snapshot, nil
}

// writeAtomically writes path all at once or not at all (reporting.WriteFileAtomically).
func writeAtomically(path string, mode os.FileMode, write func(io.Writer) error) error {
	return reporting.WriteFileAtomically(path, mode, write)
}

func importHistory(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("import takes one file of rows date,sessions, e.g. headcount import history.csv")
	}
	path := c.Args().First()
	rows, err := readHistory(path)
	if err != nil {
		return err
	}
	db, err := store.Open(c.String("db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	if env := c.String("environment"); env != "" {
		if _, err := db.SetEnvironment(env); err != nil {
			return err
		}
	}
	if err := db.Import(rows); err != nil {
		if errors.Is(err, store.ErrOverlap) {
			return usagef("%v; nothing imported", err)
		}
		return err
	}
	var total uint64
	for _, r := range rows {
		total += r.Sessions
	}
	if len(rows) == 0 {
		_, err = fmt.Fprintf(c.App.Writer, "imported nothing: %s has no rows\n", path)
		return err
	}
	_, err = fmt.Fprintf(c.App.Writer, "imported %d days (%s to %s), %d sessions, into %s\n",
		len(rows), rows[0].Day.Format(report.DateLayout), rows[len(rows)-1].Day.Format(report.DateLayout), total, db.Path())
	return err
}

// readHistory parses an import file; any bad line rejects the file.
func readHistory(path string) ([]store.DayCount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{err}
	}
	defer f.Close()
	var rows []store.DayCount
	seen := map[time.Time]int{}
	sc := bufio.NewScanner(f)
	line := 0
	bad := func(format string, a ...any) error {
		return usagef("%s:%d: %s; nothing imported", path, line, fmt.Sprintf(format, a...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 {
			if strings.TrimPrefix(text, "\uFEFF") != "date,sessions" {
				return nil, bad("the header must be date,sessions, not %q", text)
			}
			continue
		}
		date, n, ok := strings.Cut(text, ",")
		if !ok || strings.Contains(n, ",") {
			return nil, bad("want two fields date,sessions, got %q", text)
		}
		day, err := time.Parse(report.DateLayout, date)
		if err != nil {
			return nil, bad("%q is not a date: want YYYY-MM-DD", date)
		}
		if day.Year() < 1970 {
			return nil, bad("%s is before 1970", date)
		}
		sessions, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return nil, bad("sessions %q is not a whole number of at least 0", n)
		}
		if first, dup := seen[day]; dup {
			return nil, bad("%s is listed twice (first on line %d)", date, first)
		}
		seen[day] = line
		rows = append(rows, store.DayCount{Day: day, Sessions: sessions})
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("%s: %v; nothing imported", path, err)
	}
	if line == 0 {
		return nil, usagef("%s: the file is empty: want a header date,sessions; nothing imported", path)
	}
	slices.SortFunc(rows, func(a, b store.DayCount) int { return a.Day.Compare(b.Day) })
	return rows, nil
}
