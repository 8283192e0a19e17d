package main

import (
	"io"

	"github.com/urfave/cli/v2"

	"headcount/agent/admin"
	"headcount/internal/atomicfile"
	"headcount/report/metricsfile"
	"headcount/store"
)

func metricsFileCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:      "metrics-file",
		Usage:     "write the tamper-evident usage file for carrying out of an air-gapped site",
		ArgsUsage: "FROM TO",
		Description: "One row per 10-minute window of FROM ≤ t < TO (dates YYYY-MM-DD, UTC): window start, end, sessions\n" +
			"completed, and a SHA-256 chain over the rows; the last line is the deployment key's Ed25519 signature\n" +
			"of the chain's end (headcount keygen makes the key). headcount verify checks it.",
		OnUsageError: onUsage,
		Flags: append([]cli.Flag{
			dbFlag("database `FILE`"), adminAddrFlag(),
			&cli.StringFlag{Name: "key", Required: true, Usage: "the deployment's private key `FILE` (headcount keygen)"},
			&cli.StringFlag{Name: "deployment", Required: true, EnvVars: env("DEPLOYMENT"), Usage: "deployment `ID` named in the file"},
			&cli.StringFlag{Name: "output", Usage: "write to `FILE` (atomically) instead of standard output"},
		}, adminAuthFlags()...),
		Action: func(c *cli.Context) error {
			from, to, err := parseRange(c)
			if err != nil {
				return err
			}
			if o := c.String("output"); o != "" {
				if err := dirMustExist("--output", o); err != nil {
					return err
				}
			}
			key, err := readPrivateKey(c.String("key"))
			if err != nil {
				return err
			}
			client, err := adminClient(c)
			if err != nil {
				return err
			}
			snap, err := admin.ReadSnapshot(c.String("db"), client, from, to, store.Parts{Windows: true})
			if err != nil {
				return err
			}
			rows := metricsfile.Windows(from, to, snap.Windows)
			write := func(w io.Writer) error {
				return metricsfile.Write(w, c.String("deployment"), from, to, rows, key)
			}
			if o := c.String("output"); o != "" {
				return atomicfile.Write(o, 0o644, write)
			}
			return write(c.App.Writer)
		},
	})
}
