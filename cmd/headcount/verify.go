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
		Name:      "verify",
		Usage:     "check a signed usage file (headcount metrics-file) against the site's public key",
		ArgsUsage: "FILE",
		Description: "Checks the MHS shape that headcount metrics-file writes, the layout it wrote before, and the\n" +
			"scheduled reports serve --report-sign-key signs, line by line (CRLF line ends too): ok and the\n" +
			"file's figures (status 0), or the first line that does not check, line 1 being the header, and\n" +
			"which check failed (status 1).",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "pubkey", Required: true, Usage: "the site's public key `FILE`"},
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
			f, err := metricsfile.Verify(data, pub)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Args().First(), err)
			}
			if f.Report != nil {
				_, err = fmt.Fprintf(c.App.Writer, "ok: a signed report of %s, signed with key id %s; chain and signature valid\n",
					plural.Count(len(f.Report), "line"), metricsfile.KeyID(pub))
				return err
			}
			if f.Legacy {
				first, last := "-", "-"
				if len(f.Windows) > 0 {
					first, last = f.Windows[0].Start.Format(time.RFC3339), f.Windows[len(f.Windows)-1].End.Format(time.RFC3339)
				}
				_, err = fmt.Fprintf(c.App.Writer, "ok: %s from %s to %s, %s, signature valid\n",
					plural.Count(len(f.Windows), "window"), first, last, plural.Count(f.Sessions(), "session"))
				return err
			}
			span := "no metered window"
			if len(f.Windows) > 0 {
				span = plural.Count(len(f.Windows), "metered window") + " from " + f.Windows[0].Start.Format(metricsfile.TimeLayout) +
					" to " + f.Windows[len(f.Windows)-1].End.Format(metricsfile.TimeLayout)
			}
			_, err = fmt.Fprintf(c.App.Writer, "ok: %s %s, deployment %s, key id %s: %s, %s; chain and signature valid\n",
				f.Header.Product, f.Header.Version, f.Header.Deployment, f.Header.KeyID, span, plural.Count(f.Sessions(), "session"))
			return err
		},
	}
}
