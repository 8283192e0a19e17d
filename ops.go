package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/agent"
	"headcount/store"
)

// dbFlag is the --db flag of the commands that read a database.
func dbFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "db", Value: "./headcount.db", EnvVars: env("DB"), Usage: usage}
}

// adminAddrFlag returns the --admin-addr flag of the commands that read a database
// a running agent may hold.
func adminAddrFlag() cli.Flag {
	return &cli.StringFlag{Name: "admin-addr", Value: "127.0.0.1:9345", EnvVars: env("ADMIN_ADDR"), Usage: "admin endpoint `ADDR` of the agent that holds --db while it runs"}
}

func backupCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "write a consistent copy of the database, also while the agent runs",
		ArgsUsage: "FILE",
		Description: "Copies the database from one read transaction, so the copy is consistent even while the agent\n" +
			"keeps metering: a running agent (which holds the file) streams it through its admin endpoint. The copy\n" +
			"is written with mode 0600 through a temporary file renamed into place, then opened and checked.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			dbFlag("database `FILE` to copy"), adminAddrFlag(),
		},
		Action: backup,
	}
}

func checkCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "verify a database: its page structure and headcount's own invariants",
		Description: "Checks bbolt's page structure and that the days sum to the completed and imported sessions, the\n" +
			"completed sessions to their reasons and no more than were started, and that coverage intervals are\n" +
			"ordered and disjoint. A running agent's database is checked on a consistent copy. Exit status 1 when\n" +
			"anything is wrong, 2 when the file cannot be read as a headcount database.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			dbFlag("database `FILE` to check"), adminAddrFlag(),
		},
		Action: check,
	}
}

func backup(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("backup takes the file to write, e.g. headcount backup /var/backups/headcount.db")
	}
	out := c.Args().First()
	if info, err := os.Stat(filepath.Dir(out)); err != nil || !info.IsDir() {
		return usagef("backup %s: its directory does not exist", out)
	}
	path := c.String("db")
	if err := copyDB(path, c.String("admin-addr"), out); err != nil {
		return err
	}
	copied, err := store.Open(out, store.Options{ReadOnly: true})
	if err != nil {
		_ = os.Remove(out)
		return fmt.Errorf("the copy does not open, removed it: %w", err)
	}
	defer copied.Close()
	r, err := copied.Check()
	if err != nil {
		return err
	}
	info, _ := os.Stat(out)
	_, err = fmt.Fprintf(c.App.Writer, "backed up %s to %s: %d bytes, %d days, %d sessions, %d coverage intervals\n",
		path, out, info.Size(), r.Days, r.Sessions, r.Intervals)
	return err
}

// copyDB writes a consistent copy of the database at path to out: from the
// file when no agent holds it, else streamed by the agent that does.
func copyDB(path, adminAddr, out string) error {
	db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err == nil {
		defer db.Close()
		return writeAtomically(out, 0o600, func(w io.Writer) error {
			_, err := db.Backup(w)
			return err
		})
	}
	if !errors.Is(err, store.ErrLocked) {
		return err
	}
	id, err := store.FileID(path)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get("http://" + adminAddr + "/backup")
	if err != nil {
		return fmt.Errorf("%s is held by a running agent, and its admin endpoint %s did not answer (set --admin-addr to the agent's): %w", path, adminAddr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the agent at %s answered %s", adminAddr, resp.Status)
	}
	if resp.Header.Get(agent.BackupDBHeader) != id {
		return fmt.Errorf("the agent at %s serves another database than %s: set --admin-addr to the agent that holds it", adminAddr, path)
	}
	return writeAtomically(out, 0o600, func(w io.Writer) error {
		_, err := io.Copy(w, resp.Body)
		return err
	})
}

func check(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("check takes no arguments; name the database with --db")
	}
	path := c.String("db")
	target := path
	db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) {
		dir, derr := os.MkdirTemp("", "headcount-check-")
		if derr != nil {
			return derr
		}
		defer os.RemoveAll(dir)
		target = filepath.Join(dir, "copy.db")
		if err := copyDB(path, c.String("admin-addr"), target); err != nil {
			return err
		}
		db, err = store.Open(target, store.Options{ReadOnly: true})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := db.Check()
	if err != nil {
		return err
	}
	w := c.App.Writer
	if target != path {
		fmt.Fprintf(w, "checked a consistent copy of %s (the agent holds it)\n", path)
	}
	fmt.Fprintf(w, "%s: %d days, %d sessions, %d hours, %d coverage intervals\n", path, r.Days, r.Sessions, r.Hours, r.Intervals)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("%s: %d problem(s) found", path, len(r.Problems))
	}
	_, err = fmt.Fprintln(w, "ok")
	return err
}
