package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/agent/admin"
	"headcount/internal/plural"
	"headcount/store"
)

func backupCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:      "backup",
		Usage:     "write a consistent copy of the database, also while the agent runs",
		ArgsUsage: "FILE",
		Description: "Copies the database from one read transaction, so the copy is consistent even while the agent\n" +
			"keeps metering: a running agent (which holds the file) streams it through its admin endpoint. The copy\n" +
			"is written with mode 0600 through a temporary file renamed into place, then opened and checked. FILE must\n" +
			"not be the database itself (by any path, symlink or hard link) nor a database a headcount process has open.",
		OnUsageError: onUsage,
		Flags: append([]cli.Flag{
			dbFlag("database `FILE` to copy"), adminAddrFlag(),
		}, adminAuthFlags()...),
		Action: backup,
	})
}

func backup(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("backup takes the file to write, e.g. headcount backup /var/backups/headcount.db")
	}
	out := c.Args().First()
	if err := dirMustExist("backup", out); err != nil {
		return err
	}
	path := c.String("db")
	client, err := adminClient(c)
	if err != nil {
		return err
	}
	if err := admin.CopyDatabase(path, client, out); err != nil {
		var refused *admin.RefusedError
		if errors.As(err, &refused) {
			return usageError{err}
		}
		return err
	}
	copied, err := store.Open(out, store.Options{ReadOnly: true})
	if err != nil {
		_ = os.Remove(out)
		return fmt.Errorf("the copy does not open, removed it: %w", err)
	}
	defer copied.Close()
	r, err := copied.Check(time.Now())
	if err != nil {
		return err
	}
	info, _ := os.Stat(out)
	w := c.App.Writer
	fmt.Fprintf(w, "backed up %s to %s: %s, %s, %s, %s\n", path, out, plural.Count(info.Size(), "byte"),
		plural.Count(r.Days, "day"), plural.Count(r.Sessions, "session"), plural.Count(r.Intervals, "coverage interval"))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("%s is an exact copy, but the database has %s: see headcount check", out, plural.Count(len(r.Problems), "problem"))
	}
	return nil
}
