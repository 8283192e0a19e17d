package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/internal/plural"
	"headcount/store"
)

func migrateCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:  "migrate",
		Usage: fmt.Sprintf("bring a database written by an older headcount to schema %d (stop the agent first)", store.SchemaVersion),
		Description: fmt.Sprintf("Schema %d keeps the completed sessions of each day, hour and 10-minute window by class: human,\n", store.SchemaVersion) +
			"bot, and unclassified (sessions counted before classification existed, imported or recovered ones).\n" +
			"migrate first writes a copy of the file as it is (FILE.schema-N.backup, for schema N), then migrates it\n" +
			"in one transaction: a crash or power loss leaves the old file or the migrated one, never a mix. The\n" +
			"sessions of an older file become unclassified; every report with --bots include is unchanged. Then it\n" +
			"checks the migrated file as headcount check does. serve migrates the same way at its start, so\n" +
			"migrate is for a stopped agent: before an upgrade's first start, or to see what will happen. A file\n" +
			"of this schema is left as it is. Earlier builds refuse a migrated file (\"database has a newer\n" +
			"schema\"): to go back to one, stop the agent and put the backup copy in place of the file (the\n" +
			"sessions metered since are then lost to it).",
		OnUsageError: onUsage,
		Flags:        []cli.Flag{dbFlag("database `FILE` to migrate; it must exist")},
		Action:       migrate,
	})
}

func migrate(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("migrate takes no arguments; name the database with --db")
	}
	path := c.String("db")
	db, err := store.Open(path, store.Options{MustExist: true})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w: stop the agent first (a running agent migrated the file at its start already), or wait for the export, check or backup that reads it", err)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	w := c.App.Writer
	m, migrated := db.Migrated()
	if !migrated {
		_, err := fmt.Fprintf(w, "%s: schema %d already; nothing to migrate\n", path, store.SchemaVersion)
		return err
	}
	fmt.Fprintf(w, "%s: migrated from schema %d to %d (%s, %s rewritten); the file as it was is %s\n", path, m.From, m.To,
		plural.Count(m.Days, "day"), plural.Count(m.Windows, "window"), m.Backup)
	r, err := db.Check(time.Now())
	if err != nil {
		return err
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("%s: %s found after the migration (headcount check lists them); the file as it was is %s",
			path, plural.Count(len(r.Problems), "problem"), m.Backup)
	}
	_, err = fmt.Fprintf(w, "%s: %s, %s, %s; ok\n", path, plural.Count(r.Days, "day"), plural.Count(r.Sessions, "session"),
		plural.Count(r.Intervals, "coverage interval"))
	return err
}
