package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/reporting"
	"headcount/store"
)

func metricsFileCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:      "metrics-file",
		Usage:     "write the tamper-evident usage file for carrying out of an air-gapped site",
		ArgsUsage: "FROM TO",
		Description: "One row per 10-minute window of FROM ≤ t < TO (dates YYYY-MM-DD, UTC): window start, end, sessions\n" +
			"completed, and a SHA-256 chain over the rows; the last line is the deployment key's Ed25519 signature\n" +
			"of the chain's end (headcount keygen makes the key). headcount verify checks it.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			dbFlag("database `FILE`"), adminAddrFlag(),
			&cli.StringFlag{Name: "key", Required: true, Usage: "the deployment's private key `FILE` (headcount keygen)"},
			&cli.StringFlag{Name: "deployment", Required: true, EnvVars: env("DEPLOYMENT"), Usage: "deployment `ID` named in the file"},
			&cli.StringFlag{Name: "output", Usage: "write to `FILE` (atomically) instead of standard output"},
		},
		Action: func(c *cli.Context) error {
			from, to, err := parseRange(c)
			if err != nil {
				return err
			}
			key, err := readPrivateKey(c.String("key"))
			if err != nil {
				return err
			}
			snap, err := readSnapshot(c.String("db"), c.String("admin-addr"), from, to, store.Parts{Windows: true})
			if err != nil {
				return err
			}
			rows := windowRows(from, to, snap.Windows)
			write := func(w io.Writer) error {
				return reporting.WriteMetricsFile(w, c.String("deployment"), from, to, rows, key)
			}
			if o := c.String("output"); o != "" {
				return writeAtomically(o, 0o644, write)
			}
			return write(c.App.Writer)
		},
	}
}

// windowRows returns one row per 10-minute window of [from, to), with the
// stored counts and 0 elsewhere.
func windowRows(from, to time.Time, counts []store.WindowCount) []reporting.WindowRow {
	byStart := make(map[int64]uint64, len(counts))
	for _, w := range counts {
		byStart[w.Start.Unix()] += w.Sessions
	}
	var rows []reporting.WindowRow
	for t := from; t.Before(to); t = t.Add(store.Window) {
		rows = append(rows, reporting.WindowRow{Start: t, End: t.Add(store.Window), Sessions: byStart[t.Unix()]})
	}
	return rows
}

func verifyCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:         "verify",
		Usage:        "check a tamper-evident usage file against the deployment's public key",
		ArgsUsage:    "FILE",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "pubkey", Required: true, Usage: "the deployment's public key `FILE`"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("verify takes the metrics file")
			}
			data, err := os.ReadFile(c.Args().First())
			if err != nil {
				return usageError{err}
			}
			pub, err := vendorKey(c.String("pubkey")) // the file's key; the flag is required, so never the built-in one
			if err != nil {
				return err
			}
			rows, err := reporting.VerifyMetricsFile(data, pub)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Args().First(), err)
			}
			var sum uint64
			for _, r := range rows {
				sum += r.Sessions
			}
			first, last := "-", "-"
			if len(rows) > 0 {
				first, last = rows[0].Start.Format(time.RFC3339), rows[len(rows)-1].End.Format(time.RFC3339)
			}
			_, err = fmt.Fprintf(c.App.Writer, "ok: %d windows from %s to %s, %d sessions, signature valid\n", len(rows), first, last, sum)
			return err
		},
	}
}
