package main

import (
	"fmt"
	"time"

	"headcount/internal/plural"
	"headcount/report/metricsfile"

	"github.com/urfave/cli/v2"
)

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
			data, err := readInput("verify", c.Args().First())
			if err != nil {
				return err
			}
			pub, err := vendorKey("--pubkey", c.String("pubkey")) // the file's key; the flag is required, so never the built-in one
			if err != nil {
				return err
			}
			rows, err := metricsfile.Verify(data, pub)
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
			_, err = fmt.Fprintf(c.App.Writer, "ok: %s from %s to %s, %s, signature valid\n",
				plural.Count(len(rows), "window"), first, last, plural.Count(sum, "session"))
			return err
		},
	}
}
