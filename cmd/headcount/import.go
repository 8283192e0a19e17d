package main

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"headcount/internal/plural"
	"headcount/report"
	"headcount/store"

	"github.com/urfave/cli/v2"
)

func importCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:      "import",
		Usage:     "add daily history from another meter",
		ArgsUsage: "FILE.csv",
		Description: "Reads rows `date,sessions` (a header line `date,sessions` first, dates YYYY-MM-DD in UTC) and, in one\n" +
			"transaction, adds each day's sessions and marks the day as metered. A bad row rejects the whole file,\n" +
			"naming its line; so does a day after today (UTC), and a day the database already counts, so an import\n" +
			"cannot count a day twice. The database must exist: pass --create to make a new one.\n" +
			"The agent must be stopped: it holds the database while it runs.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "db", Value: "./headcount.db", EnvVars: env("DB"), Usage: "database `FILE`; it must exist unless --create is given"},
			&cli.BoolFlag{Name: "create", Usage: "create the database (mode 0600) if --db does not exist"},
			&cli.StringFlag{Name: "environment", EnvVars: env("ENVIRONMENT"), Usage: "environment `ID` to store if the database has none yet"},
		},
		Action: importHistory,
	})
}

func importHistory(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("import takes one file of rows date,sessions, e.g. headcount import history.csv")
	}
	path := c.Args().First()
	data, err := readInput("import", path)
	if err != nil {
		return err
	}
	rows, err := store.ParseHistory(bytes.NewReader(data), path, time.Now())
	if err != nil {
		return usageError{err}
	}
	if c.Bool("create") {
		if err := dirMustExist("--db", c.String("db")); err != nil {
			return err
		}
	}
	db, err := store.Open(c.String("db"), store.Options{MustExist: !c.Bool("create")})
	if errors.Is(err, store.ErrMissing) {
		return usagef("%s does not exist; pass --create to make a new database", c.String("db"))
	}
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
	_, err = fmt.Fprintf(c.App.Writer, "imported %s (%s to %s), %s, into %s\n", plural.Count(len(rows), "day"),
		rows[0].Day.Format(report.DateLayout), rows[len(rows)-1].Day.Format(report.DateLayout), plural.Count(total, "session"), db.Path())
	return err
}
