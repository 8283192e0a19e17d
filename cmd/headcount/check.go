package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"headcount/agent/admin"
	"headcount/internal/plural"
	"headcount/store"

	"github.com/urfave/cli/v2"
)

func checkCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:  "check",
		Usage: "verify a database: its page structure and headcount's own invariants",
		Description: "Checks bbolt's page structure and that the days sum to the completed and imported sessions, the\n" +
			"completed sessions to their reasons and no more than were started, and that coverage intervals are\n" +
			"ordered and disjoint, that no hour holds more than an hour of samples or a peak above the sessions\n" +
			"ever started, that nothing lies after today, that counts come with a flush sequence, and that a\n" +
			"pending file (FILE.pending, the flushes a failing disk kept from the database) continues it. It lists\n" +
			"the flush entries set aside (an impossible time, such as a day in 1969 from a wall clock set back:\n" +
			"completed sessions in no day) and reports the sequence number of the last flush applied (0 for a\n" +
			"file that never had one). A running agent's database is checked on a consistent copy. Exit status 1\n" +
			"when anything is wrong, 2 when the file cannot be read as a headcount database.",
		OnUsageError: onUsage,
		Flags: append([]cli.Flag{
			dbFlag("database `FILE` to check"), adminAddrFlag(),
		}, adminAuthFlags()...),
		Action: check,
	})
}

func check(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("check takes no arguments; name the database with --db")
	}
	client, err := adminClient(c)
	if err != nil {
		return err
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
		if err := admin.CopyDatabase(path, client, target); err != nil {
			return err
		}
		db, err = store.Open(target, store.Options{ReadOnly: true})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := db.Check(time.Now())
	if err != nil {
		return err
	}
	w := c.App.Writer
	if target != path {
		fmt.Fprintf(w, "checked a consistent copy of %s (the agent holds it)\n", path)
	}
	fmt.Fprintf(w, "%s: %s, %s, %s, %s, flush sequence %d\n", path, plural.Count(r.Days, "day"),
		plural.Count(r.Sessions, "session"), plural.Count(r.Hours, "hour"), plural.Count(r.Intervals, "coverage interval"), r.FlushSeq)
	for _, e := range r.SetAside {
		fmt.Fprintf(w, "set aside: %s\n", e)
	}
	notApplied, pendingProblem, err := store.CheckPending(path, r.FlushSeq)
	if err != nil {
		return err
	}
	switch {
	case target != path && (len(notApplied) > 0 || pendingProblem != ""):
		// The running agent writes the file while its flushes fail, and may
		// have moved on since the copy was made.
		fmt.Fprintf(w, "pending: %s exists: the running agent's flushes are failing, and it retries them itself\n", store.PendingPath(path))
	case pendingProblem != "":
		r.Problems = append(r.Problems, pendingProblem)
	case len(notApplied) > 0:
		fmt.Fprintf(w, "pending: %s holds %s the database does not hold yet; the agent applies them at its next start\n",
			store.PendingPath(path), flushRange(notApplied))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("%s: %s found", path, plural.Count(len(r.Problems), "problem"))
	}
	_, err = fmt.Fprintln(w, "ok")
	return err
}

// flushRange names a run of flush sequence numbers: "flush 7" or "flushes 7-9".
func flushRange(seqs []uint64) string {
	if len(seqs) == 1 {
		return fmt.Sprintf("flush %d", seqs[0])
	}
	return fmt.Sprintf("flushes %d-%d", seqs[0], seqs[len(seqs)-1])
}
